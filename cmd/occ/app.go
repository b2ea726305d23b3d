package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencode-cloud/occ/internal/ui"
	"github.com/opencode-cloud/occ/pkg/meta"
)

// App holds what every command needs: where occ's files are, the terminal,
// and the global flags. It is bound into each command's Run method.
type App struct {
	Globals *Globals
	Paths   meta.Paths
	UI      *UI
	In      io.Reader
	// Interactive is true when occ may prompt: stdin and stderr are
	// terminals and -q was not given.
	Interactive bool
	// Ctx is cancelled by SIGINT/SIGTERM; a prompt returns at once then.
	Ctx context.Context
	// held is occ's lock while this command holds it: a prompt lets go of
	// it while it waits for an answer (see withLockSuspended).
	held *meta.Lock
}

// NewApp resolves paths and sets up output for one invocation.
func NewApp(g *Globals, in io.Reader, out, errOut io.Writer) (*App, error) {
	paths, err := meta.DefaultPaths()
	if err != nil {
		return nil, err
	}
	if g.Instance != "" {
		cwd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("--sandbox-instance %s: the working directory: %w", g.Instance, err)
		}
		id, err := meta.ResolveInstance(g.Instance, cwd)
		if err != nil {
			return nil, usageError{fmt.Errorf("--sandbox-instance (or $%s): %w", meta.InstanceEnv, err)}
		}
		paths = paths.WithInstance(id)
	}
	if g.ConfigPath != "" {
		abs, err := filepath.Abs(g.ConfigPath)
		if err != nil {
			return nil, fmt.Errorf("--config %s: %w", g.ConfigPath, err)
		}
		paths.ConfigFile = abs
	}
	interactive := !g.Quiet && ui.IsTerminal(in) && ui.IsTerminal(errOut)
	u := NewUI(out, errOut, g.Quiet, g.Verbose, ui.ColorFor(out, g.NoColor), ui.ColorFor(errOut, g.NoColor))
	u.Live = interactive
	return &App{
		Globals:     g,
		Paths:       paths,
		UI:          u,
		In:          in,
		Interactive: interactive,
		Ctx:         context.Background(),
	}, nil
}

// LoadConfig reads the config file (defaults when it does not exist) with
// the daemon settings of the global flags and environment in effect
// (--address, $CONTAINERD_ADDRESS, …: flag > environment > file > default).
// Saving it writes the file's own values for those, never the overrides.
func (a *App) LoadConfig() (*meta.Config, bool, error) {
	cfg, exists, err := a.LoadFileConfig()
	if err != nil {
		return nil, exists, err
	}
	if a.Globals != nil {
		e := a.Globals.endpoints()
		if err := e.Validate(); err != nil {
			return nil, exists, usageError{err}
		}
		cfg.ApplyEndpoints(e)
	}
	return cfg, exists, nil
}

// LoadFileConfig reads the config file as it is, without the overrides of
// flags and environment: for the config commands, which show and change
// the file.
func (a *App) LoadFileConfig() (*meta.Config, bool, error) {
	cfg, exists, err := meta.LoadConfigFor(a.Paths)
	if err != nil {
		return nil, exists, err
	}
	a.UI.Verbosef("Config loaded from: %s", a.Paths.ConfigFile)
	a.UI.Verbosef("Data: %s", a.Paths.DataDir)
	return cfg, exists, nil
}

// Lock takes occ's lock for a mutating command.
// Every mutating command starts here, so occ's directories are made
// private (0700) before anything is written into them.
func (a *App) Lock(ctx context.Context) (*meta.Lock, error) {
	if err := a.Paths.SecureDirs(); err != nil {
		return nil, err
	}
	l, err := meta.AcquireLock(ctx, a.Paths.LockFile(), meta.DefaultLockWait)
	if err != nil {
		return nil, err
	}
	a.held = l
	// Temporary files of saves an occ was killed in the middle of.
	for _, dir := range []string{a.Paths.ConfigDir(), a.Paths.DataDir, a.Paths.SandboxDir()} {
		if n := meta.RemoveStaleTemps(dir, "", meta.StaleTempAge); n > 0 {
			a.UI.Verbosef("Removed %d temporary file(s) an interrupted occ left in %s", n, dir)
		}
	}
	return l, nil
}

// LockAndLoad takes occ's lock and loads the config, for a mutating
// command; unlock releases the lock.
func (a *App) LockAndLoad(ctx context.Context) (cfg *meta.Config, unlock func(), err error) {
	lock, err := a.Lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	cfg, _, err = a.LoadConfig()
	if err != nil {
		lock.Unlock()
		return nil, nil, err
	}
	return cfg, func() { lock.Unlock() }, nil
}

// UpdateConfig runs change on the config under occ's lock and saves the
// result. A config that fails to load is never overwritten, and nothing is
// written when change returns an error.
func (a *App) UpdateConfig(ctx context.Context, change func(cfg *meta.Config) error) (*meta.Config, error) {
	lock, err := a.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	cfg, _, err := a.LoadFileConfig()
	if err != nil {
		return nil, err
	}
	if err := change(cfg); err != nil {
		return nil, err
	}
	if cfg.AuthPassword != nil {
		// A plain-text password an upstream config kept: occ ignores it, and
		// SaveConfig writes it neither back nor into the backup.
		cfg.AuthPassword = nil
		a.UI.Warnf("Removed the deprecated auth_password from %s: occ never keeps a password in its config (logins are `occ user` accounts; the sandbox stores only a hash).", a.Paths.ConfigFile)
	}
	if err := meta.SaveConfig(a.Paths.ConfigFile, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}
