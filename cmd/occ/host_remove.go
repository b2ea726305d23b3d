package main

import (
	"context"
	"fmt"

	"github.com/opencode-cloud/occ/pkg/remote"
)

// HostRemoveCmd removes a remote host from hosts.json (and clears
// default_host when it named it).
type HostRemoveCmd struct {
	Name  string `arg:"" help:"The host to remove."`
	Force bool   `short:"f" help:"Do not ask for confirmation (needed when not on a terminal)."`
}

func (c *HostRemoveCmd) Run(ctx context.Context, app *App) error {
	hs, err := app.loadHosts()
	if err != nil {
		return err
	}
	if _, err := hs.Get(c.Name); err != nil {
		return err
	}
	if !c.Force {
		ok, err := app.Confirm(fmt.Sprintf("Remove host %s from occ's hosts?", c.Name), false, "--force")
		if err != nil {
			return err
		}
		if !ok {
			app.UI.Infof("Nothing removed.")
			return nil
		}
	}
	wasDefault := false
	if err := app.updateHosts(ctx, func(hs *remote.Hosts) error {
		if _, err := hs.Get(c.Name); err != nil {
			return err
		}
		delete(hs.Hosts, c.Name)
		if hs.Default() == c.Name {
			hs.DefaultHost, wasDefault = nil, true
		}
		return nil
	}); err != nil {
		return err
	}
	app.UI.Successf("Removed host %s.", c.Name)
	if wasDefault {
		app.UI.Infof("It was the default host: commands now run on this machine.")
	}
	return nil
}
