package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/registry"
)

// LoginCmd stores registry credentials in the Docker config, as `docker
// login` and `nerdctl login` do, after checking them against the
// registry. The password never comes from the command line.
type LoginCmd struct {
	Registry      string `arg:"" placeholder:"REGISTRY" help:"Registry host[:port] (docker.io for Docker Hub)."`
	Username      string `short:"u" placeholder:"NAME" help:"User name (prompted for on a terminal when not given)."`
	PasswordStdin bool   `name:"password-stdin" help:"Read the password (or token) from the first line of stdin; without it occ prompts on a terminal."`
}

func (c *LoginCmd) Run(ctx context.Context, app *App) error {
	cfg, _, err := app.LoadConfig()
	if err != nil {
		return err
	}
	if _, err := registry.AuthKey(c.Registry); err != nil {
		return err
	}
	user := strings.TrimSpace(c.Username)
	if user == "" {
		if !app.Interactive || c.PasswordStdin {
			return errdefs.ErrInvalidArgument.WithMessage("give the user name with -u NAME (occ login -u NAME --password-stdin " + c.Registry + ")")
		}
		fmt.Fprint(app.UI.Err, "Username: ")
		line, err := bufio.NewReader(io.LimitReader(app.In, 4096)).ReadString('\n')
		if user = strings.TrimSpace(line); user == "" {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("no user name given (%v); occ login -u NAME %s", err, c.Registry))
		}
	}
	if !c.PasswordStdin && !app.Interactive {
		return errdefs.ErrInvalidArgument.WithMessage("not on a terminal: pipe the password in with --password-stdin (printf '%s' \"$TOKEN\" | occ login -u " + user + " --password-stdin " + c.Registry + ")")
	}
	pass, err := app.ReadSecret("Password", false)
	if err != nil {
		return err
	}
	file, err := registry.Login(ctx, registry.LoginOptions{
		Registry: c.Registry, Username: user, Password: pass, Insecure: cfg.InsecureRegistries,
		Hosts: registry.NewHosts(registry.DefaultCertsDirs(app.Paths.ConfigDir())...),
	})
	if err != nil {
		return err
	}
	app.UI.Successf("Login Succeeded (credentials for %s in %s)", c.Registry, file)
	return nil
}

// LogoutCmd removes a registry's credentials from the Docker config.
type LogoutCmd struct {
	Registry string `arg:"" placeholder:"REGISTRY" help:"Registry host[:port] (docker.io for Docker Hub)."`
}

func (c *LogoutCmd) Run(app *App) error {
	file, removed, err := registry.Logout(c.Registry)
	if err != nil {
		return err
	}
	if !removed {
		app.UI.Infof("Not logged in to %s (nothing for it in %s).", c.Registry, file)
		return nil
	}
	app.UI.Successf("Removed the credentials for %s from %s", c.Registry, file)
	return nil
}
