package main

import (
	"context"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// ConfigEnvSetCmd adds or replaces a container environment variable.
type ConfigEnvSetCmd struct {
	Pair string `arg:"" placeholder:"KEY=value" help:"Variable to set."`
}

func (c *ConfigEnvSetCmd) Run(ctx context.Context, app *App) error {
	if _, err := app.UpdateConfig(ctx, func(cfg *meta.Config) error { return cfg.SetEnv(c.Pair) }); err != nil {
		return err
	}
	app.UI.Successf("Set %s", c.Pair)
	return nil
}
