package main

import (
	"fmt"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// ConfigGetCmd prints one raw value.
type ConfigGetCmd struct {
	Key string `arg:"" help:"Setting name (or an upstream alias such as port or host)."`
}

func (c *ConfigGetCmd) Run(app *App) error {
	k, err := meta.LookupKey(c.Key)
	if err != nil {
		return err
	}
	cfg, _, err := app.LoadConfig()
	if err != nil {
		return err
	}
	fmt.Fprintln(app.UI.Out, cfg.Get(k))
	return nil
}
