package main

import (
	"context"
	"errors"

	"github.com/opencode-cloud/occ/pkg/service"
)

// UninstallCmd removes occ's systemd unit (stopping the service first).
// Config and data are kept, and the volumes unless --volumes.
type UninstallCmd struct {
	Force   bool `help:"Do not ask for confirmation."`
	DryRun  bool `name:"dry-run" help:"Say what would be removed; change nothing."`
	Volumes bool `help:"Also remove the sandbox container and delete its volumes (login users, workspace, opencode's data); needs --force."`
}

func (c *UninstallCmd) Run(ctx context.Context, app *App) error {
	if c.Volumes && !c.Force && !c.DryRun {
		return errInvalidFlag("The --volumes flag requires --force: it deletes the login users, the workspace and opencode's data for good. Run: occ uninstall --volumes --force")
	}
	if err := c.removeUnit(ctx, app); err != nil {
		return err
	}
	if !c.Volumes {
		return nil
	}
	if c.DryRun {
		app.UI.Infof("Would remove the container and the volumes in: %s", app.Paths.VolumesDir())
		return nil
	}
	removed, err := app.ops().RemoveVolumes(ctx)
	for _, r := range removed {
		app.UI.Printf("Removed: %s", r)
	}
	return err
}

// removeUnit stops the service and removes its unit, under occ's lock.
func (c *UninstallCmd) removeUnit(ctx context.Context, app *App) error {
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
	app.UI.Printf("\nTo remove them too: occ reset host (or rm -rf %s %s)", app.Paths.ConfigDir(), app.Paths.DataDir)
	return nil
}
