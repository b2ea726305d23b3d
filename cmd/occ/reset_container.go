package main

import (
	"context"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// ResetContainerCmd removes the sandbox container and, with the flags,
// occ's volumes, images and the configured mount directories. It asks
// first on a terminal; elsewhere it needs --force.
type ResetContainerCmd struct {
	Volumes     bool `help:"Also delete the volumes: login users, workspace, opencode's data and config."`
	Images      bool `help:"Also delete occ's sandbox images (current, previous) from containerd."`
	CleanMounts bool `name:"clean-mounts" xor:"mounts" help:"Also empty the configured mounts' host directories."`
	PurgeMounts bool `name:"purge-mounts" xor:"mounts" help:"Also remove the configured mounts' host directories and their mounts."`
	Recreate    bool `help:"Start a new container afterwards (occ start)."`
	Force       bool `short:"f" help:"Do not ask for confirmation (needed without a terminal)."`
	JSON        bool `name:"json" help:"Print what was removed and the disk use as JSON."`
}

func (c *ResetContainerCmd) Run(ctx context.Context, app *App) error {
	env := app.ops()
	res, err := env.ResetContainer(ctx, ops.ResetOptions{Volumes: c.Volumes, Images: c.Images,
		CleanMounts: c.CleanMounts, PurgeMounts: c.PurgeMounts, Force: c.Force})
	if res != nil && !c.JSON {
		renderReset(app.UI.Out, res)
	}
	if err != nil {
		return err
	}
	if !c.Recreate {
		if c.JSON {
			return writeJSON(app.UI.Out, res)
		}
		return nil
	}
	started, err := env.Start(ctx, ops.StartOptions{Yes: true})
	if err != nil {
		return err
	}
	defer started.Close()
	if c.JSON {
		return writeJSON(app.UI.Out, struct {
			*ops.ResetResult
			Running ops.Running `json:"running"`
		}{res, started.Running})
	}
	renderRunning(app, started.Running, false)
	return nil
}
