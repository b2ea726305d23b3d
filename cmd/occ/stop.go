package main

import (
	"context"
	"time"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

// StopCmd stops the sandbox container (SIGTERM, then SIGKILL after the
// timeout). It is idempotent; volumes are always kept.
type StopCmd struct {
	Timeout int  `short:"t" default:"30" placeholder:"SECS" help:"Seconds to wait after SIGTERM before killing (default ${default})."`
	Remove  bool `help:"Also remove the container (volumes are kept)."`
}

func (c *StopCmd) Run(ctx context.Context, app *App) error {
	if c.Timeout < 0 {
		return errInvalidFlag("-t/--timeout must be 0 or more seconds")
	}
	cfg, unlock, err := app.LockAndLoad(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	rt, sb, err := app.openSandbox(ctx, cfg)
	if err != nil {
		return err
	}
	defer rt.Close()
	return stopSandbox(ctx, app, sb, time.Duration(c.Timeout)*time.Second, c.Remove)
}

// stopSandbox stops (and with remove, removes) the container with
// upstream's messages. A timeout of 0 kills at once.
func stopSandbox(ctx context.Context, app *App, sb *runtime.Sandbox, timeout time.Duration, remove bool) error {
	st, err := sb.Status(ctx)
	if err != nil {
		return err
	}
	if st.State == runtime.StateMissing {
		app.UI.Successf("Service container is already removed")
		return nil
	}
	running := st.State == runtime.StateRunning || st.State == runtime.StatePaused
	if !running && !remove {
		app.UI.Successf("Service is already stopped")
		return nil
	}
	if timeout <= 0 {
		timeout = time.Nanosecond // runtime treats 0 as its default; kill at once
	}
	var res runtime.StopResult
	if running {
		app.UI.Infof("Stopping service (%s graceful timeout, then force kill)...", secs(timeout))
		res, err = sb.Stop(ctx, timeout)
		if err != nil {
			return err
		}
	}
	if remove {
		if err := sb.Remove(ctx, timeout); err != nil {
			return err
		}
	}
	app.UI.Successf("%s", stopMessage(running, res, remove, timeout))
	return nil
}

// stopMessage is the result line of a stop.
func stopMessage(wasRunning bool, res runtime.StopResult, removed bool, timeout time.Duration) string {
	var msg string
	switch {
	case wasRunning && removed:
		msg = "Service stopped and container removed"
	case wasRunning:
		msg = "Service stopped"
	default:
		msg = "Service container removed"
	}
	if res.Killed {
		msg += " (force killed after " + secs(timeout) + " timeout)"
	}
	return msg
}

func secs(d time.Duration) string {
	if d < time.Second {
		return "0s"
	}
	return d.Round(time.Second).String()
}
