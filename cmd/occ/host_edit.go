package main

import (
	"context"
	"slices"

	"github.com/opencode-cloud/occ/pkg/remote"
)

// HostEditCmd changes a remote host's settings; an empty value clears an
// optional one (-J "" drops the jump host).
type HostEditCmd struct {
	Name         string   `arg:"" help:"The host to change."`
	Hostname     *string  `name:"hostname" help:"New SSH host name or address."`
	User         *string  `short:"u" help:"SSH user (\"\": yours)."`
	Port         *int     `short:"p" help:"SSH port (0: 22)."`
	IdentityFile *string  `short:"i" name:"identity-file" placeholder:"FILE" help:"SSH private key (\"\": none)."`
	JumpHost     *string  `short:"J" name:"jump-host" placeholder:"[USER@]HOST[:PORT]" help:"Jump host (\"\": none)."`
	AddGroup     []string `name:"add-group" help:"Add the host to a group (repeatable)."`
	RemoveGroup  []string `name:"remove-group" help:"Take the host out of a group (repeatable)."`
	Description  *string  `short:"d" help:"Description (\"\": none)."`
	OccPath      *string  `name:"occ-path" placeholder:"PATH" help:"The occ to run there and install to (\"\": occ on its PATH, else ~/.local/bin/occ)."`
}

func (c *HostEditCmd) Run(ctx context.Context, app *App) error {
	if err := app.updateHosts(ctx, func(hs *remote.Hosts) error {
		h, err := hs.Get(c.Name)
		if err != nil {
			return err
		}
		if c.Hostname != nil {
			h.Hostname = *c.Hostname
		}
		if c.User != nil {
			h.User = remote.Str(*c.User)
		}
		if c.Port != nil {
			h.Port = nil
			if *c.Port != 0 {
				p := *c.Port
				h.Port = &p
			}
		}
		if c.IdentityFile != nil {
			h.IdentityFile = remote.Str(*c.IdentityFile)
		}
		if c.JumpHost != nil {
			h.JumpHost = remote.Str(*c.JumpHost)
		}
		if c.Description != nil {
			h.Description = remote.Str(*c.Description)
		}
		if c.OccPath != nil {
			h.OccPath = *c.OccPath
		}
		for _, g := range c.AddGroup {
			if !slices.Contains(h.Groups, g) {
				h.Groups = append(h.Groups, g)
			}
		}
		h.Groups = slices.DeleteFunc(h.Groups, func(g string) bool { return slices.Contains(c.RemoveGroup, g) })
		if err := h.Validate(); err != nil {
			return usageError{err}
		}
		hs.Hosts[c.Name] = h
		return nil
	}); err != nil {
		return err
	}
	app.UI.Successf("Updated host %s.", c.Name)
	return nil
}
