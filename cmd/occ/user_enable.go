package main

import "context"

// UserEnableCmd lets a disabled user log in again.
type UserEnableCmd struct {
	Username string `arg:"" help:"The user to enable."`
}

func (c *UserEnableCmd) Run(ctx context.Context, app *App) error {
	res, err := app.ops().UserSetLocked(ctx, c.Username, false)
	if err == nil && res.Changed {
		app.UI.Successf("Enabled user %s.", res.Username)
	}
	return err
}
