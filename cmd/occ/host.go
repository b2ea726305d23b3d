package main

import (
	"context"

	"github.com/opencode-cloud/occ/pkg/remote"
)

// HostCmd manages the remote hosts of hosts.json, which --remote-host runs
// commands on over SSH (docs/remote.md).
type HostCmd struct {
	Add     HostAddCmd     `cmd:"" help:"Add a remote host (connects to check it, unless --no-verify)."`
	Remove  HostRemoveCmd  `cmd:"" aliases:"rm" help:"Remove a remote host."`
	List    HostListCmd    `cmd:"" aliases:"ls" help:"List the remote hosts."`
	Show    HostShowCmd    `cmd:"" help:"Show one remote host's settings."`
	Edit    HostEditCmd    `cmd:"" help:"Change a remote host's settings."`
	Test    HostTestCmd    `cmd:"" help:"Connect to a remote host, check its host key and run occ version there."`
	Default HostDefaultCmd `cmd:"" help:"Show or set the host commands run on without --remote-host (local: this machine)."`
}

// hostJSON is one host in --json output.
type hostJSON struct {
	Name    string `json:"name"`
	Default bool   `json:"default"`
	remote.Host
}

// updateHosts changes the hosts file under occ's lock and saves it
// atomically; nothing is written when change fails.
func (a *App) updateHosts(ctx context.Context, change func(hs *remote.Hosts) error) error {
	lock, err := a.Lock(ctx)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	path := remote.HostsFile(a.Paths)
	hs, err := remote.LoadHosts(path)
	if err != nil {
		return err
	}
	if err := change(hs); err != nil {
		return err
	}
	return remote.SaveHosts(path, hs)
}

// loadHosts reads the hosts file.
func (a *App) loadHosts() (*remote.Hosts, error) {
	return remote.LoadHosts(remote.HostsFile(a.Paths))
}
