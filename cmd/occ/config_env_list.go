package main

import (
	"fmt"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// ConfigEnvListCmd lists container environment variables, values masked.
type ConfigEnvListCmd struct {
	ShowSecrets bool `name:"show-secrets" help:"Show the values (they are often API keys)."`
}

func (c *ConfigEnvListCmd) Run(app *App) error {
	cfg, _, err := app.LoadFileConfig()
	if err != nil {
		return err
	}
	env := meta.MaskEnv(cfg.ContainerEnv)
	if c.ShowSecrets {
		env = cfg.ContainerEnv
	}
	for _, e := range env {
		fmt.Fprintf(app.UI.Out, "  %s\n", e)
	}
	app.UI.Infof("%d environment variable(s)", len(cfg.ContainerEnv))
	return nil
}
