package main

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// ConfigSetCmd changes one setting.
type ConfigSetCmd struct {
	Key   string  `arg:"" help:"Setting name (or an upstream alias). See occ config show."`
	Value *string `arg:"" optional:"" help:"New value; lists are comma-separated, \"\" clears. Secrets are prompted for, never given here."`
	Force bool    `short:"f" help:"Skip confirmations."`
}

func (c *ConfigSetCmd) Run(ctx context.Context, app *App) error {
	k, err := meta.LookupKey(c.Key)
	if err != nil {
		return err
	}
	var value string
	switch {
	case k.Secret && c.Value != nil:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s is never taken from the command line (it would land in shell history and ps); run `occ config set %s` and type it at the prompt, or pipe it on stdin",
			k.Name, k.Name))
	case k.Name == "auth_password":
		// Upstream kept this plain-text password in the config; occ ignores
		// it and never writes a password into a file.
		return errdefs.ErrInvalidArgument.WithMessage("auth_password is deprecated and occ never stores a password in its config file: " +
			"add a login with `occ user add <username>` or change one with `occ user passwd <username>` (the sandbox keeps only a hash)")
	case k.Secret:
		if value, err = app.ReadSecret("Password", true); err != nil {
			return err
		}
	case c.Value == nil:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("missing value: occ config set %s VALUE", k.Name))
	default:
		value = *c.Value
	}

	// Confirm risky changes before taking the lock.
	if k.Name == "allow_unauthenticated_network" {
		if on, err := meta.ParseBool(value); err == nil && on && !c.Force {
			app.UI.Warnf("this lets the service run on the network with no login: anyone who can reach the port gets a shell in the sandbox.")
			for _, q := range []string{"Allow unauthenticated network access?", "Are you sure? This is insecure."} {
				ok, err := app.Confirm(q, false, "--force")
				if err != nil {
					return err
				}
				if !ok {
					return errdefs.ErrAborted.WithMessage("not changed")
				}
			}
		}
	}

	cfg, err := app.UpdateConfig(ctx, func(cfg *meta.Config) error { return cfg.Set(k, value) })
	if err != nil {
		return err
	}
	if k.Name == "bind_address" && meta.IsExposed(cfg.BindAddress) {
		app.UI.Warnf("WARNING: Network exposure enabled! The web UI will answer on %s:%d for anyone who can reach this host. Make sure users are set up (occ user add) and consider a TLS reverse proxy.",
			cfg.BindAddress, cfg.OpencodeWebPort)
	}
	if k.Restart && sandboxRunning(ctx, app) {
		app.UI.Warnf("Restart required for changes to take effect: the running sandbox keeps the old %s until `occ restart`.", k.Name)
	}
	shown := cfg.Get(k)
	app.UI.Successf("Set %s = %s", k.Name, shown)
	return nil
}

// sandboxRunning is whether the sandbox runs, for a hint: a containerd
// that does not answer within a few seconds counts as not running (said
// with -v).
func sandboxRunning(ctx context.Context, app *App) bool {
	ctx, cancel := context.WithTimeout(ctx, runningProbeTimeout)
	defer cancel()
	running, err := app.ops().Running(ctx)
	if err != nil {
		app.UI.Verbosef("sandbox state: %v", err)
		return false
	}
	return running
}

// runningProbeTimeout bounds sandboxRunning.
const runningProbeTimeout = 5 * time.Second
