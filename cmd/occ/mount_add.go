package main

import (
	"context"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/ops"
)

// MountAddCmd adds a bind mount to the config, keyed by container path.
type MountAddCmd struct {
	Spec       string `arg:"" placeholder:"/HOST:/CONTAINER[:ro|rw]" help:"The mount: an existing host directory and where the sandbox sees it."`
	NoValidate bool   `name:"no-validate" help:"Do not check the host directory (it may not exist yet)."`
	Force      bool   `short:"f" help:"Allow a container path under /etc, /usr, /bin, /sbin, /lib or /var."`
	JSON       bool   `name:"json" help:"Print the result as JSON."`
}

func (c *MountAddCmd) Run(ctx context.Context, app *App) error {
	res, err := app.ops().MountAdd(ctx, c.Spec, ops.MountAddOptions{NoValidate: c.NoValidate, Force: c.Force})
	if err != nil {
		return err
	}
	if c.JSON {
		return writeJSON(app.UI.Out, res)
	}
	switch meta.MountChange(res.Change) {
	case meta.MountUnchanged:
		app.UI.Successf("Already configured: %s", res.Mount)
		return nil
	case meta.MountReplaced:
		for _, r := range res.Replaced {
			app.UI.Successf("Replaced mount target %s: %s -> %s", meta.MountTarget(r), r, res.Mount)
		}
	default:
		app.UI.Successf("Added mount: %s", res.Mount)
	}
	if res.Undo != "" {
		app.UI.Infof("Undo: %s", res.Undo)
	}
	mountsNote(app, res.Applied)
	return nil
}
