package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/runtime/restart"
	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// StartCmd gets the sandbox image if needed (pull or build, per flags, the
// first-run prompt or image_source), creates or recreates the container,
// starts it and waits until the service answers. With --no-daemon it then
// stays in the foreground supervising the container, for service managers.
type StartCmd struct {
	Port                      int      `short:"p" placeholder:"PORT" help:"Host port for the web UI, for this run only (default: opencode_web_port)."`
	Open                      bool     `help:"Open the web UI in a browser once it answers."`
	NoDaemon                  bool     `name:"no-daemon" help:"Stay in the foreground supervising the container (for service managers): exit when it stops, stop it on SIGTERM."`
	PullSandboxImage          bool     `name:"pull-sandbox-image" help:"Pull the prebuilt sandbox image (fast, ~2 min) and recreate the container."`
	CachedRebuildSandboxImage bool     `name:"cached-rebuild-sandbox-image" help:"Rebuild the sandbox image from source using the build cache, then recreate the container."`
	FullRebuildSandboxImage   bool     `name:"full-rebuild-sandbox-image" help:"Rebuild the sandbox image from source without cache (slow, 30-60 min), then recreate the container."`
	IgnoreVersion             bool     `name:"ignore-version" help:"Skip the check that the image's version matches occ's."`
	NoUpdateCheck             bool     `name:"no-update-check" help:"Skip the version-mismatch prompt on this start."`
	Yes                       bool     `short:"y" help:"Answer yes to \"Container is running. Stop and apply image change?\" and to recreating the container."`
	Mount                     []string `sep:"none" placeholder:"/HOST:/CONTAINER[:ro|rw]" help:"Bind mount for this run only (repeatable)."`
	NoMounts                  bool     `name:"no-mounts" help:"Ignore the configured mounts (only --mount applies)."`
}

// errImageFlags is upstream's text for conflicting image flags.
const errImageFlags = "Only one of --pull-sandbox-image, --cached-rebuild-sandbox-image, or --full-rebuild-sandbox-image can be specified"

// imageAction is what start does about the image.
type imageAction int

const (
	imageKeep imageAction = iota
	imagePull
	imageBuildCached
	imageBuildFull
)

// flagAction reads the image flags; more than one is an error.
func (c *StartCmd) flagAction() (imageAction, error) {
	n, a := 0, imageKeep
	if c.PullSandboxImage {
		n, a = n+1, imagePull
	}
	if c.CachedRebuildSandboxImage {
		n, a = n+1, imageBuildCached
	}
	if c.FullRebuildSandboxImage {
		n, a = n+1, imageBuildFull
	}
	if n > 1 {
		return imageKeep, errdefs.ErrInvalidArgument.WithMessage(errImageFlags)
	}
	return a, nil
}

func (c *StartCmd) Run(ctx context.Context, app *App) error {
	action, err := c.flagAction()
	if err != nil {
		return err
	}
	if c.Port != 0 && (c.Port < 1024 || c.Port > 65535) {
		return errInvalidFlag(fmt.Sprintf("-p/--port must be between 1024 and 65535, got %d", c.Port))
	}
	for _, m := range c.Mount {
		if _, err := meta.ParseMount(m); err != nil {
			return errInvalidFlag(fmt.Sprintf("--mount %s: %v", m, err))
		}
	}

	lock, err := app.Lock(ctx)
	if err != nil {
		return err
	}
	unlock := func() {
		if lock != nil {
			lock.Unlock()
			lock = nil
		}
	}
	defer unlock()

	cfg, _, err := app.LoadConfig()
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	// Per-run overrides; never saved.
	if c.Port != 0 {
		cfg.OpencodeWebPort = c.Port
	}
	if c.NoMounts {
		cfg.Mounts = nil
	}
	cfg.Mounts = append(append([]string{}, cfg.Mounts...), c.Mount...)

	rt, sb, err := app.openSandbox(ctx, cfg)
	if err != nil {
		return err
	}
	defer rt.Close()
	st, err := sb.Status(ctx)
	if err != nil {
		return err
	}
	running := st.State == runtime.StateRunning || st.State == runtime.StatePaused

	// An image change while the container runs needs a yes.
	if action != imageKeep && running && !c.Yes {
		ok, err := app.Confirm("Container is running. Stop and apply image change?", false, "--yes")
		if err != nil {
			return err
		}
		if !ok {
			return errdefs.ErrAborted.WithMessage("Aborted; nothing was changed. Stop the container first with: occ stop")
		}
	}

	// Security gate, before any download: the container is only created
	// or started when someone can log in.
	if !running || action != imageKeep {
		if err := checkUsers(cfg, app.Paths); err != nil {
			return err
		}
		warnExposure(app, cfg)
	}

	// Image: flags, else the first-run choice, else keep what is there.
	_, imgErr := rt.GetImage(rt.WithNamespace(ctx), meta.CurrentImageName)
	if imgErr != nil && !errdefs.IsNotFound(imgErr) {
		return fmt.Errorf("look up the sandbox image: %w", imgErr)
	}
	haveImage := imgErr == nil
	if action == imageKeep && !haveImage {
		if action, err = firstRunSource(app, cfg); err != nil {
			return err
		}
	}
	acquired := false
	if action != imageKeep {
		if err := acquireImage(ctx, app, cfg, rt, action); err != nil {
			return err
		}
		acquired = true
	}

	if !acquired && !c.IgnoreVersion && !c.NoUpdateCheck {
		if acquired, err = versionCheck(ctx, app, cfg, rt); err != nil {
			return err
		}
	}

	// Container: create, or recreate when it no longer matches.
	switch {
	case st.State == runtime.StateMissing:
		app.UI.Infof("Creating the sandbox container...")
		if err := sb.Create(ctx); err != nil {
			return err
		}
	default:
		diffs, err := sb.Differences(ctx)
		if err != nil {
			return err
		}
		if len(diffs) > 0 {
			recreate := acquired || c.Yes
			if !recreate {
				app.UI.Infof("The container no longer matches the configuration:\n  - %s", strings.Join(diffs, "\n  - "))
				if recreate, err = app.Confirm("Recreate container with the new configuration?", true, "--yes"); err != nil {
					return err
				}
			}
			if recreate {
				app.UI.Infof("Recreating the sandbox container (volumes are kept)...")
				if err := sb.Recreate(ctx, runtime.DefaultStopTimeout); err != nil {
					return err
				}
				running = false
			}
		}
	}

	if running {
		app.UI.Successf("Service is already running")
	} else {
		if err := startAndWait(ctx, app, sb); err != nil {
			return err
		}
		app.UI.Successf("Service started")
	}
	st, err = sb.Status(ctx)
	if err != nil {
		return err
	}
	if app.Globals.Quiet {
		fmt.Fprintln(app.UI.Out, st.URL())
	} else {
		app.UI.Printf("URL:        %s", st.URL())
		app.UI.Printf("Container:  %s", sb.Name())
	}
	if c.Open {
		openBrowser(app, st.URL())
	}
	if !c.NoDaemon {
		return nil
	}
	// Supervise without holding the lock, so `occ stop` (the unit's
	// ExecStop) can run.
	unlock()
	return supervise(ctx, app, sb)
}

// firstRunSource asks where the first image comes from (saving the answer
// to image_source), or takes image_source from the config off a terminal.
func firstRunSource(app *App, cfg *meta.Config) (imageAction, error) {
	fromConfig := func() imageAction {
		if cfg.ImageSource == meta.SourceBuild {
			return imageBuildCached
		}
		return imagePull
	}
	if !app.Interactive {
		app.UI.Infof("No sandbox image yet; image_source in the config says %s (change it with: occ config set image_source prebuilt|build).", cfg.ImageSource)
		return fromConfig(), nil
	}
	def := 1
	if cfg.ImageSource == meta.SourceBuild {
		def = 2
	}
	app.UI.Infof("\n%s\nThe sandbox image can be pulled prebuilt from the registry or built from source on this machine.", app.UI.E.Bold("Sandbox Image Setup"))
	choice, err := app.Choose("How would you like to get the sandbox image?", []string{
		"Pull prebuilt image (~2 min)",
		"Build from source (30-60 min)",
	}, def)
	if err != nil {
		return imageKeep, err
	}
	src := meta.SourcePrebuilt
	if choice == 2 {
		src = meta.SourceBuild
	}
	if src != cfg.ImageSource {
		// We hold the lock: save directly (UpdateConfig would lock again),
		// from a fresh load so per-run overrides are not written.
		saved, _, err := meta.LoadConfig(app.Paths.ConfigFile)
		if err != nil {
			return imageKeep, err
		}
		saved.ImageSource = src
		if err := meta.SaveConfig(app.Paths.ConfigFile, saved); err != nil {
			return imageKeep, err
		}
		cfg.ImageSource = src
		app.UI.Infof("Saved image_source = %s.", src)
	}
	return fromConfig(), nil
}

// supervisorLockWait bounds how long the supervisor waits for another occ
// (an update that builds, say) before it judges a container that is not
// running.
const supervisorLockWait = time.Hour

// supervise waits while the container runs. It returns nil when the
// container was stopped on purpose (occ stop) or when occ is told to stop
// (SIGTERM/SIGINT: then it stops the container first), and an error when
// the container exits on its own, so a service manager restarts occ.
func supervise(ctx context.Context, app *App, sb *runtime.Sandbox) error {
	app.UI.Infof("Supervising the container (Ctrl+C or SIGTERM stops it)...")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			app.UI.Infof("Stopping the service...")
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), runtime.DefaultStopTimeout+10*time.Second)
			defer cancel()
			if _, err := sb.Stop(sctx, runtime.DefaultStopTimeout); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				return err
			}
			app.UI.Successf("Service stopped")
			return nil
		case <-tick.C:
		}
		st, err := sb.Status(ctx)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return err
		}
		if st.State != runtime.StateRunning && st.State != runtime.StatePaused {
			// Another occ may be replacing the container (occ update,
			// restart): decide only once no occ is at work, on what is
			// there then.
			if lock, err := meta.AcquireLock(ctx, app.Paths.LockFile(), supervisorLockWait); err == nil {
				st, err = sb.Status(ctx)
				lock.Unlock()
				if err != nil {
					if ctx.Err() != nil {
						continue
					}
					return err
				}
			} else if ctx.Err() != nil {
				continue
			}
		}
		switch st.State {
		case runtime.StateRunning, runtime.StatePaused:
			continue
		case runtime.StateMissing:
			app.UI.Infof("The container was removed.")
			return nil
		}
		if st.Labels[restart.ExplicitlyStoppedLabel] == "true" {
			app.UI.Infof("The service was stopped.")
			return nil
		}
		code := uint32(0)
		if st.ExitCode != nil {
			code = *st.ExitCode
		}
		return errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("the container stopped on its own (exit code %d); see: occ logs", code))
	}
}

// openBrowser opens url with xdg-open, best effort.
func openBrowser(app *App, url string) {
	url = strings.Replace(url, "127.0.0.1", "localhost", 1) // passkeys want localhost
	p, err := exec.LookPath("xdg-open")
	if err != nil {
		app.UI.Warnf("cannot open a browser (no xdg-open); open %s yourself", url)
		return
	}
	if err := exec.Command(p, url).Start(); err != nil {
		app.UI.Warnf("cannot open a browser: %v; open %s yourself", err, url)
	}
}
