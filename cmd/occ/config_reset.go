package main

import (
	"context"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// ConfigResetCmd writes the default config.
type ConfigResetCmd struct {
	Force bool `short:"f" help:"Do not ask for confirmation."`
}

func (c *ConfigResetCmd) Run(ctx context.Context, app *App) error {
	if !c.Force {
		ok, err := app.Confirm("Reset configuration to defaults? This cannot be undone.", false, "--force")
		if err != nil {
			return err
		}
		if !ok {
			return errdefs.ErrAborted.WithMessage("not reset")
		}
	}
	lock, err := app.Lock(ctx)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	// A broken file is replaced too (that is what reset is for); SaveConfig
	// keeps it as config.json.bak.
	if err := meta.SaveConfig(app.Paths.ConfigFile, meta.DefaultConfig()); err != nil {
		return err
	}
	app.UI.Successf("Configuration reset to defaults (previous file kept as %s)", app.Paths.BackupFile())
	return nil
}
