package main

import (
	"fmt"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// ConfigGetCmd prints one raw value.
type ConfigGetCmd struct {
	Key         string `arg:"" help:"Setting name (or an upstream alias such as port or host)."`
	ShowSecrets bool   `name:"show-secrets" help:"Show container_env values (masked otherwise; they are often API keys)."`
	JSON        bool   `name:"json" help:"Print {\"key\": NAME, \"value\": VALUE} with the value typed."`
}

// configGetJSON is `occ config get --json`.
type configGetJSON struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

func (c *ConfigGetCmd) Run(app *App) error {
	k, err := meta.LookupKey(c.Key)
	if err != nil {
		return err
	}
	cfg, _, err := app.LoadFileConfig()
	if err != nil {
		return err
	}
	switch {
	case c.JSON:
		return writeJSON(app.UI.Out, configGetJSON{Key: k.Name, Value: configJSONValue(cfg, k, c.ShowSecrets)})
	case c.ShowSecrets:
		fmt.Fprintln(app.UI.Out, cfg.GetRevealed(k))
	default:
		fmt.Fprintln(app.UI.Out, cfg.Get(k))
	}
	return nil
}
