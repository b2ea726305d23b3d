package main

import (
	"context"
)

// BareCmd is `occ` with no command, as upstream: with -q nothing (exit
// 0); the sandbox running: its status; else "Service is not running" and,
// on a terminal, "Start the service now?" (yes: start, then status).
type BareCmd struct{}

// bareHint is what bare occ says when the service stays stopped.
const bareHint = "Start it with 'occ start'; 'occ --help' lists every command."

func (c *BareCmd) Run(ctx context.Context, app *App) error {
	if app.UI.Quiet {
		return nil
	}
	running, err := app.ops().Running(ctx)
	if err != nil {
		return err
	}
	if running {
		return (&StatusCmd{}).Run(ctx, app)
	}
	app.UI.Infof("Note: Service is not running.")
	start := false
	if app.Interactive {
		if start, err = app.Confirm("Start the service now?", true, ""); err != nil {
			return err
		}
	}
	if !start {
		app.UI.Infof("%s", bareHint)
		return nil
	}
	if err := (&StartCmd{}).Run(ctx, app); err != nil {
		return err
	}
	app.UI.Printf("")
	return (&StatusCmd{}).Run(ctx, app)
}
