package main

import "context"

// MountRemoveCmd removes every configured bind mount with a host path.
type MountRemoveCmd struct {
	HostPath string `arg:"" name:"host-path" help:"The host path of the mounts to remove (as occ mount list shows it)."`
	JSON     bool   `name:"json" help:"Print the result as JSON."`
}

func (c *MountRemoveCmd) Run(ctx context.Context, app *App) error {
	res, err := app.ops().MountRemove(ctx, c.HostPath)
	if err != nil {
		return err
	}
	if c.JSON {
		return writeJSON(app.UI.Out, res)
	}
	for _, r := range res.Removed {
		app.UI.Successf("Removed mount: %s", r)
	}
	app.UI.Infof("Undo: %s", res.Undo)
	mountsNote(app, res.Applied)
	return nil
}
