package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/opencode-cloud/occ/pkg/remote"
)

// HostShowCmd shows one remote host's settings.
type HostShowCmd struct {
	Name string `arg:"" help:"The host to show."`
	JSON bool   `name:"json" help:"Print the host as JSON."`
}

func (c *HostShowCmd) wantsJSON() bool { return c.JSON }

func (c *HostShowCmd) Run(ctx context.Context, app *App) error {
	hs, err := app.loadHosts()
	if err != nil {
		return err
	}
	h, err := hs.Get(c.Name)
	if err != nil {
		return err
	}
	if c.JSON {
		return writeJSON(app.UI.Out, hostJSON{Name: c.Name, Default: c.Name == hs.Default(), Host: h})
	}
	occPath := h.OccPath
	if occPath == "" {
		occPath = "occ on its PATH, else " + remote.DefaultOccPath
	}
	w := app.UI.Out
	fmt.Fprintf(w, "Name:          %s\n", c.Name)
	fmt.Fprintf(w, "Hostname:      %s\n", h.Hostname)
	fmt.Fprintf(w, "User:          %s\n", h.UserOr("(yours)"))
	fmt.Fprintf(w, "Port:          %d\n", h.PortOr22())
	fmt.Fprintf(w, "Identity file: %s\n", orDash(deref(h.IdentityFile)))
	fmt.Fprintf(w, "Jump host:     %s\n", orDash(deref(h.JumpHost)))
	fmt.Fprintf(w, "Groups:        %s\n", orDash(strings.Join(h.Groups, ", ")))
	fmt.Fprintf(w, "Description:   %s\n", orDash(deref(h.Description)))
	fmt.Fprintf(w, "Remote occ:    %s\n", occPath)
	fmt.Fprintf(w, "Default:       %v\n", c.Name == hs.Default())
	return nil
}
