package main

// ConfigCmd groups the config subcommands. Bare `occ config` shows it.
type ConfigCmd struct {
	Show  ConfigShowCmd  `cmd:"" default:"withargs" help:"Show every setting (the default)."`
	Get   ConfigGetCmd   `cmd:"" help:"Print one setting's raw value, for scripts."`
	Set   ConfigSetCmd   `cmd:"" help:"Change one setting."`
	Reset ConfigResetCmd `cmd:"" help:"Reset every setting to its default."`
	Env   ConfigEnvCmd   `cmd:"" help:"Manage extra environment variables for the sandbox container."`
	Path  ConfigPathCmd  `cmd:"" help:"Print where the config file is."`
}

// ConfigEnvCmd groups the container_env subcommands.
type ConfigEnvCmd struct {
	Set    ConfigEnvSetCmd    `cmd:"" help:"Add or replace KEY=value."`
	List   ConfigEnvListCmd   `cmd:"" help:"List the variables."`
	Remove ConfigEnvRemoveCmd `cmd:"" aliases:"rm" help:"Remove KEY."`
}
