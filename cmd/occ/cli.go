package main

import "github.com/alecthomas/kong"

// Globals are the flags valid on every command.
type Globals struct {
	Verbose    int              `short:"v" type:"counter" help:"Print more detail (repeat for even more)."`
	Quiet      bool             `short:"q" help:"Print only errors; prompts become errors."`
	NoColor    bool             `name:"no-color" help:"Disable colored output (also honours $NO_COLOR)."`
	ConfigPath string           `name:"config" env:"OCC_CONFIG" placeholder:"PATH" help:"Config file to use (default: $XDG_CONFIG_HOME/opencode-cloud/config.json)."`
	Version    kong.VersionFlag `help:"Print occ's version and commit, then exit."`
}

// CLI is occ's command tree. Each command lives in its own file.
type CLI struct {
	Globals

	Start   StartCmd   `cmd:"" help:"Start the service: get the sandbox image if needed, create the container, wait until it answers."`
	Stop    StopCmd    `cmd:"" help:"Stop the service (the container is kept unless --remove)."`
	Restart RestartCmd `cmd:"" help:"Restart the service and wait until it answers."`
	Status  StatusCmd  `cmd:"" help:"Show the service's state, address, health, image and security."`
	Logs    LogsCmd    `cmd:"" help:"Show the service's output (follows by default)."`
	Update  UpdateCmd  `cmd:"" help:"Update the sandbox image and recreate the container (keeps users and data)"`

	User   UserCmd   `cmd:"" help:"Add, remove, list and change the sandbox's login users."`
	Image  ImageCmd  `cmd:"" help:"Pull, build, list and inspect the sandbox image."`
	Config ConfigCmd `cmd:"" help:"Show and change occ's configuration."`

	Install   InstallCmd   `cmd:"" help:"Register the service with systemd so it starts on login or boot (boot_mode)."`
	Uninstall UninstallCmd `cmd:"" help:"Remove the systemd registration (config and data are kept)."`
	Doctor    DoctorCmd    `cmd:"" help:"Check containerd, runc, CNI, BuildKit, the registries and disk space, with the fix for each problem."`
	Setup     SetupCmd     `cmd:"" help:"Configure occ: image source, port, network access and the first login user (a wizard; --yes with flags for scripts)."`

	LogDriver LogDriverCmd `cmd:"" name:"log-driver" hidden:"" help:"Internal: the sandbox's logging binary, run by containerd's shim."`
	StopAll   StopAllCmd   `cmd:"" name:"stop-all" hidden:"" help:"Internal: stop every occ container on a containerd (all namespaces) and release its network (hack/testbed down)."`
}
