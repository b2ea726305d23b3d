package main

import (
	"context"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// MountCleanCmd empties (or with --purge removes) the configured mounts'
// host directories. It refuses /, top-level directories, the home
// directory, system paths and occ's own directories, and a running
// sandbox.
type MountCleanCmd struct {
	Purge bool `help:"Remove the directories themselves and their mounts from the config."`
	Force bool `short:"f" help:"Do not ask for confirmation."`
	JSON  bool `name:"json" help:"Print the result as JSON."`
}

func (c *MountCleanCmd) Run(ctx context.Context, app *App) error {
	res, err := app.ops().MountClean(ctx, ops.MountCleanOptions{Purge: c.Purge, Force: c.Force})
	if err != nil {
		return err
	}
	if c.JSON {
		return writeJSON(app.UI.Out, res)
	}
	if len(res.Cleaned) == 0 {
		app.UI.Successf("No mount directories to clean.")
		return nil
	}
	verb := "Cleaned"
	if res.Purged {
		verb = "Removed"
	}
	for _, d := range res.Cleaned {
		app.UI.Successf("%s: %s", verb, d)
	}
	if res.Purged {
		app.UI.Infof("Note: Run `occ restart` to apply mount changes.")
	}
	return nil
}
