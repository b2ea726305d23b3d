package main

import (
	"context"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

// RestartCmd stops and starts the sandbox container, recreating it first
// when the configuration (port, bind address, mounts, network mode, image)
// no longer matches it, then waits until the service answers.
type RestartCmd struct {
	Yes bool `short:"y" help:"Recreate the container without asking when the configuration changed."`
}

func (c *RestartCmd) Run(ctx context.Context, app *App) error {
	cfg, unlock, err := app.LockAndLoad(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := checkUsers(cfg, app.Paths); err != nil {
		return err
	}
	rt, sb, err := app.openSandbox(ctx, cfg)
	if err != nil {
		return err
	}
	defer rt.Close()

	st, err := sb.Status(ctx)
	if err != nil {
		return err
	}
	if st.State == runtime.StateMissing {
		return errdefs.ErrNotFound.WithMessage("no service container to restart: run `occ start` first")
	}
	diffs, err := sb.Differences(ctx)
	if err != nil {
		return err
	}
	recreate := false
	if len(diffs) > 0 {
		app.UI.Infof("The container no longer matches the configuration:\n  - %s", strings.Join(diffs, "\n  - "))
		recreate = c.Yes
		if !recreate {
			if recreate, err = app.Confirm("Recreate container with the new configuration?", true, "--yes"); err != nil {
				return err
			}
		}
	}
	if recreate {
		app.UI.Infof("Recreating the container (volumes are kept)...")
		if err := sb.Recreate(ctx, runtime.DefaultStopTimeout); err != nil {
			return err
		}
	} else if st.State == runtime.StateRunning || st.State == runtime.StatePaused {
		app.UI.Infof("Stopping service (%s graceful timeout, then force kill)...", secs(runtime.DefaultStopTimeout))
		if _, err := sb.Stop(ctx, runtime.DefaultStopTimeout); err != nil {
			return err
		}
	}
	warnExposure(app, cfg)
	if err := startAndWait(ctx, app, sb); err != nil {
		return err
	}
	st, err = sb.Status(ctx)
	if err != nil {
		return err
	}
	app.UI.Successf("Service restarted")
	app.UI.Printf("URL:        %s", st.URL())
	app.UI.Printf("Container:  %s", sb.Name())
	return nil
}

// startAndWait starts the container's task and waits for readiness with a
// spinner.
func startAndWait(ctx context.Context, app *App, sb *runtime.Sandbox) error {
	sp := app.startSpinner("Starting service...")
	defer sp.Stop()
	if err := sb.Start(ctx); err != nil {
		return err
	}
	err := sb.WaitReady(ctx, runtime.ReadyOptions{Progress: func(ok, needed int, elapsed time.Duration) {
		if ok > 0 {
			sp.Set("Service responding (%d/%d)", ok, needed)
		} else {
			sp.Set("Waiting for service to be ready... (%s)", elapsed.Truncate(time.Second))
		}
	}})
	return err
}
