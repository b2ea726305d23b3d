package main

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

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
	return setUserLocked(ctx, app, c.Username, true)
}

// setUserLocked is enable's and disable's work.
func setUserLocked(ctx context.Context, app *App, name string, locked bool) error {
	if err := checkUsername(name); err != nil {
		return err
	}
	s, err := beginUserChange(ctx, app)
	if err != nil {
		return err
	}
	defer s.end()
	verb, state := "enabling", "enabled"
	if locked {
		verb, state = "disabling", "disabled"
	}
	r, err := runtime.ReadUserRecord(s.dir, name)
	if errdefs.IsNotFound(err) {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("user %s does not exist (see 'occ user list')", name))
	} else if err != nil {
		return err
	}
	if r.Locked == locked {
		app.UI.Infof("User %s is already %s.", name, state)
	} else if _, err := runtime.SetUserLocked(s.dir, name, locked); err != nil {
		return err
	}
	if err := s.setConfigUser(name, true); err != nil {
		return err
	}
	// Applied even when unchanged: it also repairs a sandbox that missed a change.
	if err := s.apply(ctx, name, verb+" "+name); err != nil {
		return err
	}
	if r.Locked != locked {
		if locked {
			app.UI.Successf("Disabled user %s: it can no longer log in (occ user enable %s undoes it).", name, name)
		} else {
			app.UI.Successf("Enabled user %s.", name)
		}
	}
	return nil
}
