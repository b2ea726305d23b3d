package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"
)

// ImageLsCmd lists occ's images in containerd with their provenance.
type ImageLsCmd struct {
	JSON bool `name:"json" help:"Print JSON instead of a table."`
}

func (c *ImageLsCmd) Run(ctx context.Context, app *App) error {
	imgs, ns, err := app.ops().ImageList(ctx)
	if err != nil {
		return err
	}
	if c.JSON {
		out := make([]imageJSON, 0, len(imgs))
		for _, i := range imgs {
			out = append(out, toImageJSON(i))
		}
		return writeJSON(app.UI.Out, out)
	}
	if len(imgs) == 0 {
		app.UI.Infof("No sandbox images in containerd (namespace %s). Pull one with `occ image pull`.", ns)
		return nil
	}
	tw := tabwriter.NewWriter(app.UI.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", app.UI.Bold("NAME"), app.UI.Bold("SOURCE"), app.UI.Bold("VERSION"),
		app.UI.Bold("PLATFORM"), app.UI.Bold("DIGEST"), app.UI.Bold("SIZE"), app.UI.Bold("ACQUIRED"))
	for _, i := range imgs {
		p := i.Provenance
		acquired := "-"
		if !p.AcquiredAt.IsZero() {
			acquired = p.AcquiredAt.Local().Format(time.DateTime)
		}
		src := orDash(p.Source)
		if p.Reference != "" {
			src += " " + p.Reference
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Name, src, orDash(p.ImageVersion), orDash(p.Platform),
			shortDigest(i.Image.Target.Digest), humanBytes(i.Size), acquired)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
