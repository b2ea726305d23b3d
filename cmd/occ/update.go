package main

import (
	"context"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// UpdateCmd gets a new sandbox image the way image_source says (pull the
// configured image, or a cached rebuild), keeps the one it replaces as
// previous, and recreates the container from it with the same settings
// (volumes, and so the users, are kept), waiting until it answers. If the
// new container fails, or occ is interrupted, it goes back to the image
// that ran before by itself. --rollback swaps the current and previous
// images instead.
type UpdateCmd struct {
	Yes      bool `short:"y" help:"Do not ask for confirmation (needed when not on a terminal)."`
	Rollback bool `help:"Go back to the previous image (kept by the last update): swap it with the current one and recreate the container."`
	JSON     bool `name:"json" help:"Print what changed as JSON."`
	kubeSwitch
	hostUsersFlag
}

func (c *UpdateCmd) Run(ctx context.Context, app *App) error {
	if kc, cfg, err := c.kubeClient(app); err != nil || kc != nil {
		return orKube(err, func() error { return kubeUpdate(ctx, app, kc, cfg, c.Rollback, c.NoUserNS) })
	}
	res, err := app.ops().Update(ctx, ops.UpdateOptions{Yes: c.Yes, Rollback: c.Rollback})
	if err != nil {
		return err
	}
	if c.JSON {
		return writeJSON(app.UI.Out, res)
	}
	if res.Started {
		if res.URL != "" {
			app.UI.Printf("URL:        %s", res.URL)
		}
		app.UI.Printf("Container:  %s", res.Container)
	}
	return nil
}
