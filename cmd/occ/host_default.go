package main

import (
	"context"

	"github.com/opencode-cloud/occ/pkg/remote"
)

// HostDefaultCmd shows or sets default_host: the host commands run on
// without --remote-host ("local": this machine).
type HostDefaultCmd struct {
	Name string `arg:"" optional:"" help:"The host to make the default, or local for this machine; none: show the default."`
}

func (c *HostDefaultCmd) Run(ctx context.Context, app *App) error {
	if c.Name == "" {
		hs, err := app.loadHosts()
		if err != nil {
			return err
		}
		d := hs.Default()
		if d == "" {
			d = "local"
		}
		app.UI.Printf("%s", d)
		return nil
	}
	if err := app.updateHosts(ctx, func(hs *remote.Hosts) error {
		if c.Name == "local" {
			hs.DefaultHost = nil
			return nil
		}
		if _, err := hs.Get(c.Name); err != nil {
			return err
		}
		hs.DefaultHost = remote.Str(c.Name)
		return nil
	}); err != nil {
		return err
	}
	if c.Name == "local" {
		app.UI.Successf("Commands run on this machine by default.")
	} else {
		app.UI.Successf("Commands run on %s by default (--local runs one here).", c.Name)
	}
	return nil
}
