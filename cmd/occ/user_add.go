package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

// UserAddCmd adds a login user: occ hashes the password, writes the record
// into the users volume and, when the sandbox runs, applies it at once.
type UserAddCmd struct {
	Username string `arg:"" optional:"" help:"The new user's name: 1-32 of a-z, 0-9, _ and -, starting with a letter or _ (prompted for, default admin, when left out on a terminal)."`
	passwordFlags
	kubeSwitch
}

func (c *UserAddCmd) Run(ctx context.Context, app *App) error {
	name := c.Username
	if name == "" {
		if !app.Interactive {
			return errdefs.ErrInvalidArgument.WithMessage("no username given: occ user add NAME")
		}
		fmt.Fprint(app.UI.Err, "Username [admin]: ")
		line, err := bufio.NewReader(app.In).ReadString('\n')
		if err != nil && line == "" {
			return errdefs.ErrAborted.WithMessage("no username given")
		}
		if name = strings.TrimSpace(line); name == "" {
			name = "admin"
		}
	}
	if err := checkUsername(name); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	if kc, _, err := c.kubeClient(app); err != nil || kc != nil {
		return orKube(err, func() error { return kubeUserAdd(ctx, app, kc, c, name) })
	}

	s, err := beginUserChange(ctx, app)
	if err != nil {
		return err
	}
	defer s.end()
	if _, err := runtime.ReadUserRecord(s.dir, name); err == nil {
		return errdefs.ErrAlreadyExists.WithMessage(fmt.Sprintf("user %s already exists: change the password with 'occ user passwd %s'", name, name))
	} else if !errdefs.IsNotFound(err) {
		return err
	}
	pw, generated, err := c.password(app, name)
	if err != nil {
		return err
	}
	rec, err := runtime.NewUserRecord(name, pw)
	if err != nil {
		return err
	}
	if err := runtime.WriteUserRecord(s.dir, rec); err != nil {
		return err
	}
	if err := s.setConfigUser(name, true); err != nil {
		return err
	}
	if generated {
		c.show(app, name, pw)
	}
	if err := s.apply(ctx, name, "adding "+name); err != nil {
		return err
	}
	if !c.PrintPasswordOnly {
		app.UI.Successf("Added user %s.", name)
	}
	return nil
}
