package main

import (
	"context"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// ConfigEnvRemoveCmd removes a container environment variable.
type ConfigEnvRemoveCmd struct {
	Key string `arg:"" help:"Variable name."`
}

func (c *ConfigEnvRemoveCmd) Run(ctx context.Context, app *App) error {
	if _, err := app.UpdateConfig(ctx, func(cfg *meta.Config) error { return cfg.RemoveEnv(c.Key) }); err != nil {
		return err
	}
	app.UI.Successf("Removed %s", c.Key)
	return nil
}
