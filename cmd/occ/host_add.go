package main

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/remote"
)

// HostAddCmd adds a remote host to hosts.json, after connecting to it
// (host key checked, occ found or offered) unless --no-verify.
type HostAddCmd struct {
	Name         string   `arg:"" help:"The host's name in occ (for --remote-host)."`
	Hostname     string   `arg:"" help:"Its SSH host name or address."`
	User         string   `short:"u" help:"SSH user (default: yours)."`
	Port         int      `short:"p" help:"SSH port (default 22)."`
	IdentityFile string   `short:"i" name:"identity-file" placeholder:"FILE" help:"SSH private key (default: ssh-agent's keys, then ~/.ssh/id_*)."`
	JumpHost     string   `short:"J" name:"jump-host" placeholder:"[USER@]HOST[:PORT]" help:"Connect through this SSH host."`
	Group        []string `short:"g" help:"A group for the host (repeatable)."`
	Description  string   `short:"d" help:"A description."`
	OccPath      string   `name:"occ-path" placeholder:"PATH" help:"The occ to run there, and where to install it (default: occ on its PATH, else ~/.local/bin/occ)."`
	NoVerify     bool     `name:"no-verify" help:"Save without connecting."`
	Force        bool     `help:"Replace a host of the same name."`
	Yes          bool     `short:"y" help:"Install this occ on the host without asking when it has none."`
}

func (c *HostAddCmd) Run(ctx context.Context, app *App) error {
	if err := remote.ValidateName(c.Name); err != nil {
		return usageError{err}
	}
	h := remote.Host{Hostname: c.Hostname, User: remote.Str(c.User), IdentityFile: remote.Str(c.IdentityFile),
		JumpHost: remote.Str(c.JumpHost), Groups: c.Group, Description: remote.Str(c.Description), OccPath: c.OccPath}
	if c.Port != 0 {
		h.Port = &c.Port
	}
	if err := h.Validate(); err != nil {
		return usageError{err}
	}
	hs, err := app.loadHosts()
	if err != nil {
		return err
	}
	if _, ok := hs.Hosts[c.Name]; ok && !c.Force {
		return errdefs.ErrAlreadyExists.WithMessage(fmt.Sprintf("host %q already exists: pass --force to replace it, or change it with `occ host edit %s`", c.Name, c.Name))
	}
	if !c.NoVerify {
		if err := app.verifyHost(ctx, c.Name, h, c.Yes); err != nil {
			return fmt.Errorf("%w (nothing saved; --no-verify adds the host without connecting)", err)
		}
	}
	if err := app.updateHosts(ctx, func(hs *remote.Hosts) error {
		if _, ok := hs.Hosts[c.Name]; ok && !c.Force {
			return errdefs.ErrAlreadyExists.WithMessage(fmt.Sprintf("host %q already exists: pass --force to replace it", c.Name))
		}
		hs.Hosts[c.Name] = h
		return nil
	}); err != nil {
		return err
	}
	app.UI.Successf("Added host %s (%s@%s:%d). Run commands there with `occ --remote-host %s COMMAND`.",
		c.Name, h.UserOr(app.dialOptions(c.Name).LocalUser), h.Hostname, h.PortOr22(), c.Name)
	return nil
}

// verifyHost connects to the host (its key checked, trusted on first use as
// allowed), finds occ there and offers to install it when it has none.
// Without consent to install, the host still passes: occ is offered again on
// first use.
func (a *App) verifyHost(ctx context.Context, name string, h remote.Host, yes bool) error {
	conn, err := remote.Connect(ctx, name, h, a.dialOptions(name))
	if err != nil {
		return err
	}
	defer conn.Close()
	a.UI.Infof("Connected to %s: %s, host key verified.", name, conn.Occ.Uname)
	p := a.installPolicy(name, yes)
	if conn.NeedsInstall(p.LocalVersion) && !yes && !a.Interactive {
		a.UI.Warnf("occ is not installed on %s (or older than %s): it will be offered at the first --remote-host %s (or now with --yes)", name, p.LocalVersion, name)
		return nil
	}
	if err := conn.Ensure(ctx, p); errdefs.IsAborted(err) {
		a.UI.Warnf("occ not installed on %s: it will be offered again at the first --remote-host %s", name, name)
	} else if err != nil {
		return err
	}
	if conn.Occ.Found {
		a.UI.Infof("occ %s found on %s at %s.", conn.Occ.Version, name, conn.Occ.Path)
	}
	return nil
}
