package main

import (
	"context"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// UserPasswdCmd sets an existing user's password (its enabled/disabled
// state is kept).
type UserPasswdCmd struct {
	Username string `arg:"" help:"The user whose password to set."`
	passwordFlags
	kubeSwitch
}

func (c *UserPasswdCmd) Run(ctx context.Context, app *App) error {
	if err := ops.CheckUsername(c.Username); err != nil {
		return err
	}
	if kc, _, err := c.kubeClient(app); err != nil || kc != nil {
		return orKube(err, func() error { return kubeUserPasswd(ctx, app, kc, c, c.Username) })
	}
	if err := c.check(); err != nil {
		return err
	}
	if _, err := app.ops().UserPasswd(ctx, c.Username, c.options(app)); err != nil {
		return err
	}
	if !c.PrintPasswordOnly {
		app.UI.Successf("Set the password of %s.", c.Username)
	}
	return nil
}
