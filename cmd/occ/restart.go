package main

import (
	"context"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// RestartCmd stops and starts the sandbox container, recreating it first
// when the configuration (port, bind address, mounts, network mode, image)
// no longer matches it, then waits until the service answers.
type RestartCmd struct {
	Yes  bool `short:"y" help:"Recreate the container without asking when the configuration changed."`
	JSON bool `name:"json" help:"Print where the service answers as JSON."`
}

func (c *RestartCmd) Run(ctx context.Context, app *App) error {
	res, err := app.ops().Restart(ctx, ops.RestartOptions{Yes: c.Yes})
	if err != nil {
		return err
	}
	if c.JSON {
		return writeJSON(app.UI.Out, res)
	}
	renderRunning(app, res.Running)
	return nil
}

// renderRunning prints where a started sandbox answers.
func renderRunning(app *App, r ops.Running) {
	app.UI.Printf("URL:        %s", r.URL)
	app.UI.Printf("Container:  %s", r.Container)
}
