package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencode-cloud/occ/pkg/service"
)

// InstallCmd registers occ with systemd (user or system unit per
// boot_mode) so the service starts on login or boot.
type InstallCmd struct {
	Force  bool `help:"Reinstall without asking when the service is already installed."`
	DryRun bool `name:"dry-run" help:"Print the unit and where it would go; change nothing."`
}

func (c *InstallCmd) Run(ctx context.Context, app *App) error {
	cfg, unlock, err := app.LockAndLoad(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := cfg.Validate(); err != nil {
		return err
	}
	opts, err := serviceOptions(app, cfg)
	if err != nil {
		return err
	}
	unit, err := service.Render(opts)
	if err != nil {
		return err
	}
	in := installerFor(app)
	path, err := in.UnitPath(opts.Mode)
	if err != nil {
		return err
	}
	cur, err := in.Current(opts.Mode)
	if err != nil {
		return err
	}
	if c.DryRun {
		verb := "install"
		if cur != "" {
			verb = "reinstall"
		}
		app.UI.Infof("Would %s service at: %s", verb, path)
		fmt.Fprint(app.UI.Out, unit)
		return nil
	}
	if cur != "" && !c.Force {
		ok, err := app.Confirm("Service already installed. Reinstall?", false, "--force")
		if err != nil {
			return err
		}
		if !ok {
			app.UI.Infof("Nothing changed.")
			return nil
		}
	}
	if err := writeAndEnable(ctx, in, opts.Mode, path, unit); err != nil {
		return err
	}
	app.UI.Printf("Service file: %s", path)
	app.UI.Printf("Service name: %s", in.Unit)
	app.UI.Printf("Status:       started")
	when := "login"
	if opts.Mode == service.ModeSystem {
		when = "boot"
	}
	app.UI.Printf("\nThe service will start automatically on %s.", when)
	return nil
}

// writeAndEnable writes the unit and enables (and starts) it.
func writeAndEnable(ctx context.Context, in *service.Installer, mode, path, unit string) error {
	if _, err := in.WriteUnit(mode, unit); err != nil {
		return err
	}
	if err := in.Enable(ctx, mode); err != nil {
		if errors.Is(err, service.ErrNoSystemd) {
			return fmt.Errorf("wrote %s but cannot enable it: %w. Once systemd runs, enable it with: %s", path, err, systemctlHint(mode, in.Unit))
		}
		return fmt.Errorf("wrote %s but enabling it failed: %w", path, err)
	}
	return nil
}
