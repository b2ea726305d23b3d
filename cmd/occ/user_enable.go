package main

import "context"

// UserEnableCmd lets a disabled user log in again.
type UserEnableCmd struct {
	Username string `arg:"" help:"The user to enable."`
}

func (c *UserEnableCmd) Run(ctx context.Context, app *App) error {
	return setUserLocked(ctx, app, c.Username, false)
}
