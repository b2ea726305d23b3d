package main

import (
	"context"
	"fmt"
	"text/tabwriter"
)

// MountListCmd lists the configured bind mounts.
type MountListCmd struct {
	NamesOnly bool `name:"names-only" help:"Print the host paths only, one a line."`
	JSON      bool `name:"json" help:"Print the mounts as JSON."`
}

func (c *MountListCmd) Run(ctx context.Context, app *App) error {
	l, err := app.ops().MountList(ctx)
	if err != nil {
		return err
	}
	switch {
	case c.JSON:
		return writeJSON(app.UI.Out, l)
	case c.NamesOnly:
		for _, m := range l.Mounts {
			fmt.Fprintln(app.UI.Out, m.Host)
		}
		return nil
	}
	if len(l.Mounts) == 0 {
		app.UI.Infof("No mounts configured. Add one: occ mount add /host/dir:/home/opencoder/workspace/dir")
		return nil
	}
	tw := tabwriter.NewWriter(app.UI.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tCONTAINER\tMODE")
	for _, m := range l.Mounts {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Host, m.Container, mode)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	mountsNote(app, l.Applied)
	return nil
}
