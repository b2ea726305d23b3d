package main

import (
	"context"
	"time"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// StopCmd stops the sandbox container (SIGTERM, then SIGKILL after the
// timeout). It is idempotent; volumes are always kept.
type StopCmd struct {
	Timeout int  `short:"t" default:"30" placeholder:"SECS" help:"Seconds to wait after SIGTERM before killing (default ${default})."`
	Remove  bool `help:"Also remove the container (volumes are kept)."`
	JSON    bool `name:"json" help:"Print what was done as JSON."`
}

func (c *StopCmd) Run(ctx context.Context, app *App) error {
	if c.Timeout < 0 {
		return errInvalidFlag("-t/--timeout must be 0 or more seconds")
	}
	res, err := app.ops().Stop(ctx, ops.StopOptions{Timeout: time.Duration(c.Timeout) * time.Second, Remove: c.Remove})
	if err != nil || !c.JSON {
		return err
	}
	return writeJSON(app.UI.Out, res)
}
