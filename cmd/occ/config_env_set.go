package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// ConfigEnvSetCmd adds or replaces a container environment variable. The
// value is often an API key, so it is typed at a prompt (or piped on
// stdin), never taken from the command line, and never printed back.
type ConfigEnvSetCmd struct {
	Key string `arg:"" placeholder:"KEY" help:"Variable to set; its value is prompted for (or read from stdin), never given here."`
}

func (c *ConfigEnvSetCmd) Run(ctx context.Context, app *App) error {
	key, _, hasValue := strings.Cut(c.Key, "=")
	if hasValue {
		// The value is on argv: in shell history and visible in ps to every
		// user. Refuse without repeating it.
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the value of %s is never taken from the command line (it would land in shell history and ps): "+
			"run `occ config env set %s` and type it at the prompt, or pipe it: printf '%%s\\n' \"$VALUE\" | occ config env set %s", key, key, key))
	}
	if !meta.ValidEnvKey(key) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%q is not a variable name (letters, digits and _, not starting with a digit)", key))
	}
	if why := meta.UnsafeEnvKey(key); why != "" {
		// Refused before asking for a value (SetEnv says the same).
		return (&meta.Config{}).SetEnv(key + "=")
	}
	value, err := app.ReadSecret("Value for "+key, false)
	if err != nil {
		return err
	}
	if _, err := app.UpdateConfig(ctx, func(cfg *meta.Config) error { return cfg.SetEnv(key + "=" + value) }); err != nil {
		return err
	}
	app.UI.Successf("Set %s (value hidden; `occ config env list --show-secrets` shows it)", key)
	return nil
}
