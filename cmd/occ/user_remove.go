package main

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

// UserRemoveCmd removes a login user: its record, its entry in the config,
// and (when the sandbox runs) its account at once.
type UserRemoveCmd struct {
	Username string `arg:"" help:"The user to remove."`
	Force    bool   `short:"f" help:"Do not ask, and allow removing the last user."`
	kubeSwitch
}

func (c *UserRemoveCmd) Run(ctx context.Context, app *App) error {
	name := c.Username
	if err := checkUsername(name); err != nil {
		return err
	}
	if kc, _, err := c.kubeClient(app); err != nil || kc != nil {
		return orKube(err, func() error { return kubeUserRemove(ctx, app, kc, name, c.Force) })
	}
	s, err := beginUserChange(ctx, app)
	if err != nil {
		return err
	}
	defer s.end()
	records, listErr := runtime.ListUserRecords(s.dir)
	_, recErr := runtime.ReadUserRecord(s.dir, name)
	exists := recErr == nil || errdefs.IsDataLoss(recErr) // a broken record can be removed
	if !exists {
		if !errdefs.IsNotFound(recErr) {
			return recErr
		}
		if err := s.setConfigUser(name, false); err != nil { // only listed in the config
			return err
		}
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("user %s does not exist (see 'occ user list')", name))
	}
	others := 0
	for _, r := range records {
		if r.Username != name {
			others++
		}
	}
	if others == 0 && listErr == nil && !c.Force {
		return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
			"%s is the last user: without users nobody can log in to the sandbox; pass --force to remove it anyway", name))
	}
	if !c.Force {
		ok, err := app.Confirm(fmt.Sprintf("Remove user %s?", name), false, "--force")
		if err != nil {
			return err
		}
		if !ok {
			return errdefs.ErrAborted.WithMessage("nothing was removed")
		}
	}
	if err := runtime.RemoveUserRecord(s.dir, name); err != nil {
		return err
	}
	if err := s.setConfigUser(name, false); err != nil {
		return err
	}
	if err := s.apply(ctx, name, "removing "+name); err != nil {
		return err
	}
	app.UI.Successf("Removed user %s.", name)
	if others == 0 {
		app.UI.Warnf("There are no users left: nobody can log in until you add one (occ user add).")
	}
	return nil
}
