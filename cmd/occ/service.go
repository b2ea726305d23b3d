package main

import (
	"os"
	"path/filepath"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/ops"
	"github.com/opencode-cloud/occ/pkg/runtime"
	"github.com/opencode-cloud/occ/pkg/service"
)

// newInstaller makes the service installer (tests swap in a fake systemctl).
var newInstaller = func() *service.Installer { return &service.Installer{} }

// installerFor is the service installer for this invocation's instance
// (its own unit name).
func installerFor(app *App) *service.Installer {
	in := newInstaller()
	in.Unit = app.Paths.UnitName()
	return in
}

// serviceOptions are the unit's inputs for this occ and config: this
// binary, this config file, this data directory.
func serviceOptions(app *App, cfg *meta.Config) (service.Options, error) {
	exe, err := os.Executable()
	if err != nil {
		return service.Options{}, err
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		exe = p
	}
	env := []string{"XDG_DATA_HOME=" + filepath.Dir(app.Paths.DataDir)}
	if d := os.Getenv(ops.RunDirEnv); filepath.IsAbs(d) {
		env = append(env, ops.RunDirEnv+"="+d)
	}
	// The daemons in effect now (--address, $CONTAINERD_ADDRESS, …), so the
	// service does not fall back to the defaults without them.
	env = append(env, daemonEnv(app.Globals)...)
	if app.Paths.Instance != "" {
		env = append(env, meta.InstanceEnv+"="+app.Paths.Instance)
	}
	mode := cfg.BootMode
	if runtime.InRootlessChild() {
		// Rootless containerd is this user's: so is the service (a user
		// unit; the system's units are root's), and it finds rootlesskit
		// where this occ did.
		mode = service.ModeUser
		env = append(env, runtime.EnvRootlessStateDir+"="+runtime.RootlessStateDir())
	}
	return service.Options{
		Mode:           mode,
		Executable:     exe,
		ConfigFile:     app.Paths.ConfigFile,
		Env:            env,
		User:           os.Getenv("OPENCODE_SERVICE_USER"),
		AutoRestart:    cfg.AutoRestart,
		RestartDelay:   cfg.RestartDelay,
		RestartRetries: cfg.RestartRetries,
		StopTimeout:    int(runtime.DefaultStopTimeout.Seconds()),
	}, nil
}

func systemctlHint(mode, unit string) string {
	u := ""
	if mode == service.ModeUser {
		u = "--user "
	}
	return "systemctl " + u + "daemon-reload && systemctl " + u + "enable --now " + unit
}
