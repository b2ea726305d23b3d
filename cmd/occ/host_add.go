package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/remote"
)

// HostAddCmd adds a remote host to hosts.json, after connecting to it
// (host key checked, occ found or offered) unless --no-verify. What the
// flags leave empty is filled from ~/.ssh/config's block for HOSTNAME.
type HostAddCmd struct {
	Name           string   `arg:"" help:"The host's name in occ (for --remote-host)."`
	Hostname       string   `arg:"" help:"Its SSH host name, address or ~/.ssh/config Host alias."`
	User           string   `short:"u" help:"SSH user (default: ~/.ssh/config's, else yours)."`
	Port           int      `short:"p" help:"SSH port (default: ~/.ssh/config's, else 22)."`
	IdentityFile   string   `short:"i" name:"identity-file" placeholder:"FILE" help:"SSH private key (default: ~/.ssh/config's, else ssh-agent's keys, then ~/.ssh/id_*)."`
	JumpHost       string   `short:"J" name:"jump-host" placeholder:"[USER@]HOST[:PORT]" help:"Connect through this SSH host (default: ~/.ssh/config's ProxyJump)."`
	Group          []string `short:"g" help:"A group for the host (repeatable)."`
	Description    string   `short:"d" help:"A description."`
	OccPath        string   `name:"occ-path" placeholder:"PATH" help:"The occ to run there, and where to install it (default: occ on its PATH, else ~/.local/bin/occ)."`
	NoVerify       bool     `name:"no-verify" help:"Save without connecting."`
	Force          bool     `help:"Replace a host of the same name."`
	Yes            bool     `short:"y" help:"Install this occ on the host without asking when it has none."`
	NoSSHConfig    bool     `name:"no-ssh-config" help:"Do not fill values from ~/.ssh/config."`
	WriteSSHConfig bool     `name:"write-ssh-config" help:"Append a Host NAME block to ~/.ssh/config (offered on a terminal; refused if one exists)."`
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
	o := app.dialOptions(c.Name)
	if c.NoSSHConfig {
		o.SSHConfig = nil
	}
	h, took, err := o.SSHConfig.Fill(h)
	if err != nil {
		return fmt.Errorf("%w (fix it, or give the values as flags with --no-ssh-config)", err)
	}
	if err := h.Validate(); err != nil {
		return usageError{err}
	}
	if len(took) > 0 {
		app.UI.Infof("From %s (Host %s): %s.", o.SSHConfig.Path, c.Hostname, sshConfigValues(h, took))
	}
	hs, err := app.loadHosts()
	if err != nil {
		return err
	}
	if _, ok := hs.Hosts[c.Name]; ok && !c.Force {
		return errdefs.ErrAlreadyExists.WithMessage(fmt.Sprintf("host %q already exists: pass --force to replace it, or change it with `occ host edit %s`", c.Name, c.Name))
	}
	// Whether a Host block can be written is known before anything is
	// changed: a refusal leaves hosts.json as it was.
	sshPath := remote.SSHConfigFile(o.Home)
	cur, curErr := remote.LoadSSHConfig(sshPath, o.Home, o.LocalUser)
	hasBlock := curErr == nil && cur.HasBlock(c.Name)
	if c.WriteSSHConfig && curErr != nil {
		return fmt.Errorf("--write-ssh-config: %w (nothing saved)", curErr)
	}
	if c.WriteSSHConfig && hasBlock {
		return errdefs.ErrAlreadyExists.WithMessage(fmt.Sprintf("%s already has a Host block for %s: nothing saved (drop --write-ssh-config, or edit that block)", sshPath, c.Name))
	}
	if !c.NoVerify {
		if err := app.verifyHost(ctx, c.Name, h, c.Yes, o); err != nil {
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
		c.Name, h.UserOr(o.LocalUser), h.Hostname, h.PortOr22(), c.Name)

	write := c.WriteSSHConfig
	if !write && !hasBlock && curErr == nil && app.Interactive {
		if write, err = app.Confirm(fmt.Sprintf("Add a \"Host %s\" block to %s, so that `ssh %s` reaches it too?", c.Name, sshPath, c.Name), false, "--write-ssh-config"); err != nil {
			return err
		}
	}
	if !write {
		return nil
	}
	shadowed, err := remote.AppendSSHConfigBlock(sshPath, o.Home, c.Name, h)
	if err != nil {
		return fmt.Errorf("host %s added, but %w", c.Name, err)
	}
	app.UI.Successf("Added \"Host %s\" to %s.", c.Name, sshPath)
	if len(shadowed) > 0 {
		app.UI.Warnf("an earlier block of %s sets %s for %s, and ssh takes the first value: move \"Host %s\" above it", sshPath, strings.Join(shadowed, ", "), c.Name, c.Name)
	}
	return nil
}

// sshConfigValues says the values taken from ~/.ssh/config:
// "HostName 10.0.0.5, User deploy".
func sshConfigValues(h remote.Host, keys []string) string {
	var out []string
	for _, k := range keys {
		v := ""
		switch k {
		case remote.KeyHostName:
			v = h.Hostname
		case remote.KeyUser:
			v = h.UserOr("")
		case remote.KeyPort:
			v = strconv.Itoa(h.PortOr22())
		case remote.KeyIdentityFile:
			v = *h.IdentityFile
		case remote.KeyProxyJump:
			v = *h.JumpHost
		}
		out = append(out, k+" "+v)
	}
	return strings.Join(out, ", ")
}

// verifyHost connects to the host (its key checked, trusted on first use as
// allowed), finds occ there and offers to install it when it has none.
// Without consent to install, the host still passes: occ is offered again on
// first use.
func (a *App) verifyHost(ctx context.Context, name string, h remote.Host, yes bool, o remote.DialOptions) error {
	conn, err := remote.Connect(ctx, name, h, o)
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
