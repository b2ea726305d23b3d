package main

import (
	"strings"

	"github.com/alecthomas/kong"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// Globals are the flags valid on every command.
type Globals struct {
	Verbose    int              `short:"v" type:"counter" help:"Print more detail (repeat for even more)."`
	Quiet      bool             `short:"q" help:"Print only errors; prompts become errors."`
	NoColor    bool             `name:"no-color" help:"Disable colored output (also $NO_COLOR; $FORCE_COLOR colours even when not a terminal)."`
	ConfigPath string           `name:"config" env:"OCC_CONFIG" placeholder:"PATH" help:"Config file to use (default: $XDG_CONFIG_HOME/opencode-cloud/config.json)."`
	Version    kong.VersionFlag `help:"Print occ's version and commit, then exit."`
	// Instance is the sandbox instance (resolved by NewApp into Paths).
	Instance string `name:"sandbox-instance" env:"OPENCODE_SANDBOX_INSTANCE" placeholder:"NAME|auto" help:"Sandbox instance: its own container, port, image records, volumes, state, lock, logs and unit (NAME: 1-32 of a-z, 0-9, '-'; auto: wt-<hash> of the git work tree or directory). Default: the one shared sandbox."`

	// The target: a remote host from hosts.json (occ host), where the same
	// occ command runs over SSH (docs/remote.md).
	RemoteHost       string `name:"remote-host" xor:"target" placeholder:"NAME" help:"Run this command on a remote host of occ host list, over SSH (over default_host in hosts.json)."`
	Local            bool   `xor:"target" help:"Run on this machine, even when hosts.json names a default_host."`
	AcceptNewHostKey bool   `name:"accept-new-host-key" env:"OCC_ACCEPT_NEW_HOST_KEY" help:"Trust a remote host's unknown SSH host key without asking, and record it (a changed key is always refused)."`

	// The daemons, as nerdctl takes them: flag > environment > config file
	// > default. -n is the namespace only before the command (`occ -n ns
	// status`): after it, `logs -n` is the number of lines, as in docker
	// and nerdctl (see globalShortFlags).
	Address      string `short:"a" group:"daemons" env:"CONTAINERD_ADDRESS" placeholder:"SOCKET" help:"containerd's socket (over containerd_address in the config; default /run/containerd/containerd.sock)."`
	Namespace    string `group:"daemons" env:"CONTAINERD_NAMESPACE" placeholder:"NS" help:"containerd namespace for occ's images and container (over containerd_namespace; default opencode-cloud). -n NS before the command."`
	Snapshotter  string `group:"daemons" env:"CONTAINERD_SNAPSHOTTER" placeholder:"NAME" help:"containerd snapshotter (over snapshotter in the config; default overlayfs)."`
	BuildkitHost string `group:"daemons" name:"buildkit-host" env:"BUILDKIT_HOST" placeholder:"ADDR" help:"BuildKit address, unix:///path or tcp://host:port (over buildkit_address in the config)."`
	CNIPath      string `group:"daemons" name:"cni-path" env:"CNI_PATH" placeholder:"DIRS" help:"CNI plugin directories, colon-separated (over cni_plugin_dirs in the config)."`

	// fromFlag names the flags given on the command line (recordFlags).
	fromFlag map[string]bool
}

// endpoints are the daemon settings the flags and environment give.
func (g *Globals) endpoints() meta.Endpoints {
	return meta.Endpoints{ContainerdAddress: g.Address, Namespace: g.Namespace, Snapshotter: g.Snapshotter,
		BuildkitHost: g.BuildkitHost, CNIPath: meta.SplitCNIPath(g.CNIPath)}
}

// globalShortFlags rewrites the global short flags kong cannot take
// because a command uses the same letter: -n NS (or -nNS, -n=NS) before the
// command becomes --namespace NS. After the command, -n is the command's
// (logs -n LINES). nerdctl resolves its -n the same way.
func globalShortFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case !strings.HasPrefix(a, "-"):
			return append(out, args[i:]...) // the command: the rest is its own
		case a == "-n":
			out = append(out, "--namespace")
		case strings.HasPrefix(a, "-n="):
			out = append(out, "--namespace="+a[3:])
		case strings.HasPrefix(a, "-n") && len(a) > 2:
			out = append(out, "--namespace="+a[2:])
		default:
			out = append(out, a)
			if globalTakesValue(a) && i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
		}
	}
	return out
}

// globalTakesValue is whether the global flag a takes the next argument as
// its value (its value is not joined with =).
func globalTakesValue(a string) bool {
	switch a {
	case "--config", "--sandbox-instance", "--remote-host", "-a", "--address", "--namespace", "--snapshotter", "--buildkit-host", "--cni-path":
		return true
	}
	return false
}

// CLI is occ's command tree. Each command lives in its own file.
type CLI struct {
	Globals

	// Bare is `occ` alone: status, or an offer to start (hidden: it has
	// no name to type).
	Bare BareCmd `cmd:"" default:"1" hidden:"" help:"Show the status, or offer to start the service when it is not running."`

	Start   StartCmd   `cmd:"" help:"Start the service: get the sandbox image if needed, create the container, wait until it answers."`
	Stop    StopCmd    `cmd:"" help:"Stop the service (the container is kept unless --remove)."`
	Restart RestartCmd `cmd:"" help:"Restart the service and wait until it answers."`
	Status  StatusCmd  `cmd:"" help:"Show the service's state, address, health, image and security."`
	Logs    LogsCmd    `cmd:"" help:"Show the service's output (follows on a terminal, or with -f)."`
	Update  UpdateCmd  `cmd:"" help:"Update occ, the sandbox image or its opencode (a selector; --yes: everything available); --rollback goes back to the previous image."`

	User     UserCmd     `cmd:"" help:"Add, remove, list and change the sandbox's login users."`
	Instance InstanceCmd `cmd:"" help:"List the sandbox instances (--sandbox-instance) and their state."`
	Image    ImageCmd    `cmd:"" help:"Pull, build, list and inspect the sandbox image."`
	Config   ConfigCmd   `cmd:"" help:"Show and change occ's configuration."`
	Mount    MountCmd    `cmd:"" help:"Add, remove, list and clean the sandbox's bind mounts."`
	Reset    ResetCmd    `cmd:"" help:"Remove occ's container, volumes, images, mount directories; or everything (reset host)."`
	Kube     KubeCmd     `cmd:"" help:"Run the sandbox on a Kubernetes cluster: render, apply, status, logs, delete."`
	Host     HostCmd     `cmd:"" help:"Add, list, test and remove the remote hosts occ runs commands on over SSH (--remote-host)."`

	Install   InstallCmd   `cmd:"" help:"Register the service with systemd so it starts on login or boot (boot_mode)."`
	Uninstall UninstallCmd `cmd:"" help:"Remove the systemd registration (config and data are kept)."`
	Login     LoginCmd     `cmd:"" help:"Log in to a registry: check the credentials and store them in the Docker config (as docker login does)."`
	Logout    LogoutCmd    `cmd:"" help:"Remove a registry's credentials from the Docker config."`
	Doctor    DoctorCmd    `cmd:"" help:"Check containerd, runc, CNI, BuildKit, the registries and disk space, with the fix for each problem."`
	Setup     SetupCmd     `cmd:"" help:"Configure occ: image source, port, network access and the first login user (a wizard; --yes with flags for scripts)."`
	Version   VersionCmd   `cmd:"" help:"Show the versions of occ, containerd, runc and BuildKit."`

	Completion CompletionCmd `cmd:"" help:"Print the shell completion script for bash, zsh or fish (source <(occ completion bash))."`
	Man        ManCmd        `cmd:"" hidden:"" help:"Print occ's man page (roff), for packagers."`

	LogDriver LogDriverCmd `cmd:"" name:"log-driver" hidden:"" help:"Internal: the sandbox's logging binary, run by containerd's shim."`
	StopAll   StopAllCmd   `cmd:"" name:"stop-all" hidden:"" help:"Internal: stop every occ container on a containerd (all namespaces) and release its network (hack/testbed down)."`
}
