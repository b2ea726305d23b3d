package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	goruntime "runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/opencode-cloud/occ/internal/ui"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/remote"
)

// localCommands always run on this machine: they manage the hosts
// themselves, or are internal, or print what this binary knows.
var localCommands = []string{"host", "completion", "man", "log-driver", "stop-all"}

// runRemoteIfTargeted runs the command on its remote host when it has one
// (--remote-host, else default_host; --local wins) and reports whether it
// did, with the remote occ's exit code.
func runRemoteIfTargeted(kctx *kong.Context, g *Globals, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, bool) {
	if g.Local {
		return 0, false
	}
	first, _, _ := strings.Cut(kctx.Command(), " ")
	if slices.Contains(localCommands, first) {
		if g.RemoteHost != "" {
			fmt.Fprintf(stderr, "Error: occ %s runs on this machine; --remote-host does not apply to it\n", first)
			return exitUsage, true
		}
		return 0, false
	}
	app, err := NewApp(g, stdin, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return exitFailure, true
	}
	name := g.RemoteHost
	if name == "" {
		hs, err := remote.LoadHosts(remote.HostsFile(app.Paths))
		if err != nil {
			app.UI.PrintError(err)
			reportJSONFailure(stdout, selectedCommand(kctx), err)
			return exitCode(err), true
		}
		if name = hs.Default(); name == "" {
			return 0, false
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app.Ctx = ctx
	fwd := remote.ForwardedArgs(args)
	if app.Paths.Instance != "" && !slices.ContainsFunc(fwd, func(a string) bool { return strings.HasPrefix(a, "--sandbox-instance") }) {
		// From $OPENCODE_SANDBOX_INSTANCE, which does not travel over SSH.
		fwd = append([]string{"--sandbox-instance", app.Paths.Instance}, fwd...)
	}
	code, err := app.runRemote(ctx, name, fwd, stdin, stdout, stderr)
	if err != nil {
		// The remote occ did not run: this occ reports, as for a local
		// failure (the error object on stdout under --json).
		app.UI.PrintError(err)
		reportJSONFailure(stdout, selectedCommand(kctx), err)
		return exitCode(err), true
	}
	return code, true
}

// runRemote runs occ with args on the host name: connected, host key
// checked, occ installed there when missing (with consent), streams
// forwarded and the exit code returned.
func (a *App) runRemote(ctx context.Context, name string, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	hs, err := remote.LoadHosts(remote.HostsFile(a.Paths))
	if err != nil {
		return 0, err
	}
	h, err := hs.Get(name)
	if err != nil {
		return 0, err
	}
	yes := slices.Contains(args, "--yes") || slices.Contains(args, "-y")
	c, err := remote.Open(ctx, name, h, a.dialOptions(name), a.installPolicy(name, yes))
	if err != nil {
		return 0, err
	}
	defer c.Close()

	o := remote.RunOptions{Args: args, Stdin: stdin, Stdout: stdout, Stderr: stderr}
	if f, ok := stdin.(*os.File); ok && ui.IsTerminal(f) && ui.IsTerminal(stdout) {
		o.TTY = f // prompts and progress as on the remote's own terminal
	} else if !slices.Contains(args, "--json") {
		o.Stdout = &remote.PrefixWriter{W: stdout, Prefix: "[" + name + "] "}
		o.Stderr = &remote.PrefixWriter{W: stderr, Prefix: "[" + name + "] "}
	}
	code, err := c.Run(ctx, o)
	if err != nil && ui.IsInterrupt(err) {
		return 0, ui.ErrInterrupted(err)
	}
	return code, err
}

// dialOptions are the SSH settings for host name: this user, ssh-agent, the
// known_hosts files, the host key policy of the flags and ~/.ssh/config.
func (a *App) dialOptions(name string) remote.DialOptions {
	home, _ := os.UserHomeDir()
	local := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		local = u.Username
	}
	k := remote.NewHostKeys(a.Paths, home)
	k.AcceptNew = a.Globals != nil && a.Globals.AcceptNewHostKey
	k.Interactive, k.Prompt = a.Interactive, a
	k.Log = &remote.PrefixWriter{W: a.UI.Err, Prefix: "[" + name + "] "}
	return remote.DialOptions{HostKeys: k, LocalUser: local, Home: home, AgentSocket: os.Getenv("SSH_AUTH_SOCK"),
		SSHConfig: a.sshConfig(home, local)}
}

// sshConfig is ~/.ssh/config read, for the values a host leaves empty; one
// the parser refuses is passed over with a warning (the host's own values
// still work), nil then.
func (a *App) sshConfig(home, localUser string) *remote.SSHConfig {
	c, err := remote.LoadSSHConfig(remote.SSHConfigFile(home), home, localUser)
	if err != nil {
		a.UI.Warnf("%v: not used", err)
		return nil
	}
	return c
}

// installPolicy lets occ be copied to host name when missing there: with
// yes, or when the user agrees on a terminal.
func (a *App) installPolicy(name string, yes bool) remote.InstallPolicy {
	exe, _ := os.Executable()
	return remote.InstallPolicy{Yes: yes, Interactive: a.Interactive, Prompt: a, Exe: exe,
		LocalVersion: meta.Version, LocalPlatform: goruntime.GOOS + "/" + goruntime.GOARCH,
		Log: &remote.PrefixWriter{W: a.UI.Err, Prefix: "[" + name + "] "}}
}
