package main

import (
	"context"
	"fmt"
	"text/tabwriter"
)

// InstanceListCmd lists occ's sandbox containers in the namespace in
// effect, one line per instance.
type InstanceListCmd struct {
	JSON bool `name:"json" help:"Print the instances as JSON."`
}

func (c *InstanceListCmd) Run(ctx context.Context, app *App) error {
	list, err := app.ops().Instances(ctx)
	if err != nil {
		return err
	}
	if c.JSON {
		return writeJSON(app.UI.Out, instanceListJSON{Instances: list})
	}
	if len(list) == 0 {
		app.UI.Infof("No sandbox containers yet: `occ start` (or `occ --sandbox-instance NAME start`) creates one.")
		return nil
	}
	tw := tabwriter.NewWriter(app.UI.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tCONTAINER\tSTATE\tPUBLISHED")
	for _, i := range list {
		name := i.Instance
		if name == "" {
			name = "(default)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, i.Container, i.State, i.Published)
	}
	return tw.Flush()
}
