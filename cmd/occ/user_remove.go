package main

import "context"

// UserRemoveCmd removes a login user: its record, its entry in the config,
// and (when the sandbox runs) its account at once.
type UserRemoveCmd struct {
	Username string `arg:"" help:"The user to remove."`
	Force    bool   `short:"f" help:"Do not ask, and allow removing the last user."`
	kubeSwitch
}

func (c *UserRemoveCmd) Run(ctx context.Context, app *App) error {
	if kc, _, err := c.kubeClient(app); err != nil || kc != nil {
		return orKube(err, func() error { return kubeUserRemove(ctx, app, kc, c.Username, c.Force) })
	}
	res, err := app.ops().UserRemove(ctx, c.Username, c.Force)
	if err != nil {
		return err
	}
	app.UI.Successf("Removed user %s.", res.Username)
	if res.NoUsersLeft {
		app.UI.Warnf("There are no users left: nobody can log in until you add one (occ user add).")
	}
	return nil
}
