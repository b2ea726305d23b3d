package main

import "context"

// UserEnableCmd lets a disabled user log in again.
type UserEnableCmd struct {
	Username string `arg:"" help:"The user to enable."`
	kubeSwitch
}

func (c *UserEnableCmd) Run(ctx context.Context, app *App) error {
	if kc, _, err := c.kubeClient(app); err != nil || kc != nil {
		return orKube(err, func() error { return kubeUserLocked(ctx, app, kc, c.Username, false) })
	}
	res, err := app.ops().UserSetLocked(ctx, c.Username, false)
	if err == nil && res.Changed {
		app.UI.Successf("Enabled user %s.", res.Username)
	}
	return err
}
