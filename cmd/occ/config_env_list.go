package main

import "fmt"

// ConfigEnvListCmd lists container environment variables.
type ConfigEnvListCmd struct{}

func (c *ConfigEnvListCmd) Run(app *App) error {
	cfg, _, err := app.LoadConfig()
	if err != nil {
		return err
	}
	for _, e := range cfg.ContainerEnv {
		fmt.Fprintf(app.UI.Out, "  %s\n", e)
	}
	app.UI.Infof("%d environment variable(s)", len(cfg.ContainerEnv))
	return nil
}
