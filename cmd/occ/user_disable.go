package main

import "context"

// UserDisableCmd stops a user from logging in; the record (and password)
// are kept, so 'occ user enable' undoes it.
type UserDisableCmd struct {
	Username string `arg:"" help:"The user to disable."`
	kubeSwitch
}

func (c *UserDisableCmd) Run(ctx context.Context, app *App) error {
	if kc, _, err := c.kubeClient(app); err != nil || kc != nil {
		return orKube(err, func() error { return kubeUserLocked(ctx, app, kc, c.Username, true) })
	}
	res, err := app.ops().UserSetLocked(ctx, c.Username, true)
	if err == nil && res.Changed {
		app.UI.Successf("Disabled user %s: it can no longer log in (occ user enable %s undoes it).", res.Username, res.Username)
	}
	return err
}
