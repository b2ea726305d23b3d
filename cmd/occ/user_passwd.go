package main

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

// UserPasswdCmd sets an existing user's password (its enabled/disabled
// state is kept).
type UserPasswdCmd struct {
	Username string `arg:"" help:"The user whose password to set."`
	passwordFlags
	kubeSwitch
}

func (c *UserPasswdCmd) Run(ctx context.Context, app *App) error {
	name := c.Username
	if err := checkUsername(name); err != nil {
		return err
	}
	if kc, _, err := c.kubeClient(app); err != nil || kc != nil {
		return orKube(err, func() error { return kubeUserPasswd(ctx, app, kc, c, name) })
	}
	if err := c.check(); err != nil {
		return err
	}
	s, err := beginUserChange(ctx, app)
	if err != nil {
		return err
	}
	defer s.end()
	if _, err := runtime.ReadUserRecord(s.dir, name); errdefs.IsNotFound(err) {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("user %s does not exist: add it with 'occ user add %s' (see 'occ user list')", name, name))
	} else if err != nil && !errdefs.IsDataLoss(err) { // a broken record is what passwd repairs
		return err
	}
	pw, generated, err := c.password(app, name)
	if err != nil {
		return err
	}
	if _, err := runtime.SetUserPassword(s.dir, name, pw); err != nil {
		return err
	}
	if err := s.setConfigUser(name, true); err != nil {
		return err
	}
	if generated {
		c.show(app, name, pw)
	}
	if err := s.apply(ctx, name, "the new password of "+name); err != nil {
		return err
	}
	if !c.PrintPasswordOnly {
		app.UI.Successf("Set the password of %s.", name)
	}
	return nil
}
