package main

import "context"

// UserAddCmd adds a login user: occ hashes the password, writes the record
// into the users volume and, when the sandbox runs, applies it at once.
type UserAddCmd struct {
	Username string `arg:"" optional:"" help:"The new user's name: 1-32 of a-z, 0-9, _ and -, starting with a letter or _ (prompted for, default admin, when left out on a terminal)."`
	passwordFlags
	kubeSwitch
}

func (c *UserAddCmd) Run(ctx context.Context, app *App) error {
	if err := c.check(); err != nil {
		return err
	}
	if kc, _, err := c.kubeClient(app); err != nil || kc != nil {
		return orKube(err, func() error { return kubeUserAdd(ctx, app, kc, c, c.Username) })
	}
	res, err := app.ops().UserAdd(ctx, c.Username, c.options(app))
	if err != nil {
		return err
	}
	if !c.PrintPasswordOnly {
		app.UI.Successf("Added user %s.", res.Username)
	}
	return nil
}
