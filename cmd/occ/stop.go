package main

import (
	"bufio"
	"context"
	"io"
	"time"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// StopCmd stops the sandbox container (SIGTERM, then SIGKILL after the
// timeout). It is idempotent; volumes are always kept. On a terminal,
// Enter during the graceful wait kills at once.
type StopCmd struct {
	Timeout int  `short:"t" default:"30" placeholder:"SECS" help:"Seconds to wait after SIGTERM before killing (default ${default}; on a terminal, Enter kills at once)."`
	Remove  bool `help:"Also remove the container (volumes are kept)."`
	JSON    bool `name:"json" help:"Print what was done as JSON."`
}

// forceKillHint is upstream's wording, after "Stopping service (…)…".
const forceKillHint = "Press Enter to force kill now."

func (c *StopCmd) Run(ctx context.Context, app *App) error {
	if c.Timeout < 0 {
		return errInvalidFlag("-t/--timeout must be 0 or more seconds")
	}
	o := ops.StopOptions{Timeout: time.Duration(c.Timeout) * time.Second, Remove: c.Remove}
	if app.Interactive {
		o.ForceKill, o.ForceHint = enterPressed(app.In), forceKillHint
	}
	res, err := app.ops().Stop(ctx, o)
	if err != nil || !c.JSON {
		return err
	}
	return writeJSON(app.UI.Out, res)
}

// enterPressed is closed once a line (Enter) is read from in. The reader
// is left blocked when no line comes: occ exits after the stop.
func enterPressed(in io.Reader) <-chan struct{} {
	pressed := make(chan struct{})
	go func() {
		if _, err := bufio.NewReader(in).ReadString('\n'); err == nil {
			close(pressed)
		}
	}()
	return pressed
}
