package main

import (
	"context"
	"errors"

	"github.com/opencode-cloud/occ/pkg/service"
)

// UninstallCmd removes occ's systemd unit (stopping the service first).
// Config, data and volumes are kept.
type UninstallCmd struct {
	Force  bool `help:"Do not ask for confirmation."`
	DryRun bool `name:"dry-run" help:"Say what would be removed; change nothing."`
}

func (c *UninstallCmd) Run(ctx context.Context, app *App) error {
	cfg, unlock, err := app.LockAndLoad(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	in := installerFor(app)
	mode := cfg.BootMode
	path, err := in.UnitPath(mode)
	if err != nil {
		return err
	}
	installed, err := in.Installed(mode)
	if err != nil {
		return err
	}
	if !installed {
		app.UI.Successf("Service not installed.")
		return nil
	}
	if c.DryRun {
		app.UI.Infof("Would remove service at: %s", path)
		return nil
	}
	if !c.Force {
		ok, err := app.Confirm("This will remove the service registration. Continue?", false, "--force")
		if err != nil {
			return err
		}
		if !ok {
			app.UI.Infof("Nothing changed.")
			return nil
		}
	}
	noSystemd := false
	if err := in.Disable(ctx, mode); err != nil {
		if errors.Is(err, service.ErrNoSystemd) {
			noSystemd = true
			app.UI.Warnf("%v; removing the unit file only.", err)
		} else {
			app.UI.Warnf("stopping or disabling the service: %v", err)
		}
	}
	if _, _, err := in.RemoveUnit(mode); err != nil {
		return err
	}
	if !noSystemd {
		if err := in.Reload(ctx, mode); err != nil {
			app.UI.Warnf("systemctl daemon-reload: %v", err)
		}
	}
	app.UI.Printf("Removed: %s", path)
	app.UI.Printf("\nFiles retained (for reinstall):\n  Config: %s\n  Data:   %s", app.Paths.ConfigDir(), app.Paths.DataDir)
	app.UI.Printf("\nTo remove them too: rm -rf %s %s", app.Paths.ConfigDir(), app.Paths.DataDir)
	return nil
}
