package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// UpdateCmd gets a new sandbox image the way image_source says (pull the
// configured image, or a cached rebuild), keeps the one it replaces as
// previous, and recreates the container from it with the same settings
// (volumes, and so the users, are kept), waiting until it answers. If the
// new container fails, or occ is interrupted, it goes back to the image
// that ran before by itself. --rollback swaps the current and previous
// images instead.
type UpdateCmd struct {
	Yes      bool `short:"y" help:"Do not ask for confirmation (needed when not on a terminal)."`
	Rollback bool `help:"Go back to the previous image (kept by the last update): swap it with the current one and recreate the container."`
	kubeSwitch
	hostUsersFlag
}

// updateReadyTimeout is how long update and rollback wait for the new
// container to answer before rolling back. Longer than start's: the old
// container was fine, so only a real failure should undo the change (an
// exit or a fatal log line is caught at once anyway), not a slow start on
// a busy machine.
const updateReadyTimeout = 3 * runtime.ReadyTimeout

func (c *UpdateCmd) Run(ctx context.Context, app *App) error {
	if kc, cfg, err := c.kubeClient(app); err != nil || kc != nil {
		return orKube(err, func() error { return kubeUpdate(ctx, app, kc, cfg, c.Rollback, c.NoUserNS) })
	}
	cfg, unlock, err := app.LockAndLoad(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := cfg.Validate(); err != nil {
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
	if st.State != runtime.StateMissing {
		// Recreate with exactly the settings the container has now.
		if sb, err = app.sandboxFor(rt, runtime.ContainerSettings(cfg, st.Labels)); err != nil {
			return err
		}
	}
	running := st.State == runtime.StateRunning || st.State == runtime.StatePaused

	nctx := rt.WithNamespace(ctx)
	cur, err := rt.ImageService().Get(nctx, meta.CurrentImageName)
	if errdefs.IsNotFound(err) {
		return errdefs.ErrNotFound.WithMessage("there is no sandbox image to update yet: run `occ start` first (it pulls or builds one)")
	} else if err != nil {
		return fmt.Errorf("look up the sandbox image: %w", err)
	}

	if c.Rollback {
		return c.rollback(ctx, app, rt, sb, cur, running)
	}

	question := "Update will stop the sandbox and recreate it. Continue?"
	if !running {
		question = "Update the sandbox image? (The sandbox is not running; the new image is used when it starts.) Continue?"
	}
	if err := c.confirm(app, question); err != nil {
		return err
	}

	// Get the new image into the staging record: current and previous
	// stay as they are whatever happens to the pull or build.
	is := rt.ImageStore()
	if err := is.DeleteImage(ctx, meta.UpdateImageName); err != nil {
		return fmt.Errorf("remove the leftover staging image %s: %w", meta.UpdateImageName, err)
	}
	dropStaging := func() {
		if err := is.DeleteImage(context.WithoutCancel(ctx), meta.UpdateImageName); err != nil {
			app.UI.Verbosef("remove the staging image %s: %v", meta.UpdateImageName, err)
		}
	}
	next, err := c.acquire(ctx, app, cfg, rt)
	if err != nil {
		dropStaging()
		if ctx.Err() != nil {
			return fmt.Errorf("update interrupted; the sandbox and its images were not changed: %w", err)
		}
		hint := ""
		if cfg.ImageSource != meta.SourceBuild {
			hint = "\nTo build the image from source instead: occ config set image_source build, then occ update"
		}
		return fmt.Errorf("update failed: could not get the new image: %w\nThe sandbox and its images were not changed.%s", err, hint)
	}
	same, err := rt.SameImage(ctx, cur, next)
	if err != nil {
		dropStaging()
		if ctx.Err() != nil {
			return fmt.Errorf("update interrupted; the sandbox and its images were not changed: %w", err)
		}
		return err
	}
	if err := ctx.Err(); err != nil { // nothing changed yet: an interrupt here still stops cleanly
		dropStaging()
		return fmt.Errorf("update interrupted; the sandbox and its images were not changed: %w", err)
	}
	if same {
		dropStaging()
		upToDate := cur.Target.Digest.String()
		if p, ok := meta.ProvenanceFromLabels(cur.Labels); ok && p.ImageVersion != "" && p.ImageVersion != "dev" {
			upToDate += ", v" + strings.TrimPrefix(p.ImageVersion, "v")
		}
		app.UI.Successf("Already up to date (%s)", upToDate)
		return nil
	}

	app.UI.Infof("Updating from %s to %s...", describeImage(cur), describeImage(next))
	res, err := sb.SwitchImage(ctx, runtime.SwitchOptions{
		Change: func(ctx context.Context, r *runtime.ImageRecords) (images.Image, error) {
			return r.Promote(ctx, meta.UpdateImageName)
		},
		StateFile: app.Paths.StateFile(),
		Ready:     runtime.ReadyOptions{Timeout: updateReadyTimeout},
		Notify:    func(m string) { app.UI.Infof("%s", m) },
	})
	if err != nil {
		dropStaging()
		return switchFailure("Update", err, running)
	}
	app.UI.Successf("Updated to %s; the image it replaced is kept as previous (undo with: occ update --rollback)", describeImage(res.Image))
	c.report(ctx, app, sb, res)
	return nil
}

// rollback swaps the current and previous images and recreates the
// container from the previous one.
func (c *UpdateCmd) rollback(ctx context.Context, app *App, rt *runtime.Client, sb *runtime.Sandbox, cur images.Image, running bool) error {
	prev, err := rt.ImageService().Get(rt.WithNamespace(ctx), meta.PreviousImageName)
	if errdefs.IsNotFound(err) {
		return errdefs.ErrNotFound.WithMessage("No previous image to roll back to: occ keeps one when `occ update` replaces the sandbox image. Run `occ update` first.")
	} else if err != nil {
		return fmt.Errorf("look up the previous sandbox image: %w", err)
	}
	question := fmt.Sprintf("Rollback will stop the sandbox and recreate it from the previous image, %s. Continue?", describeImage(prev))
	if !running {
		question = fmt.Sprintf("Make the previous image, %s, current again? Continue?", describeImage(prev))
	}
	if err := c.confirm(app, question); err != nil {
		return err
	}
	app.UI.Infof("Rolling back from %s to %s...", describeImage(cur), describeImage(prev))
	res, err := sb.SwitchImage(ctx, runtime.SwitchOptions{
		Change:    func(ctx context.Context, r *runtime.ImageRecords) (images.Image, error) { return r.Swap(ctx) },
		StateFile: app.Paths.StateFile(),
		Ready:     runtime.ReadyOptions{Timeout: updateReadyTimeout},
		Notify:    func(m string) { app.UI.Infof("%s", m) },
	})
	if err != nil {
		return switchFailure("Rollback", err, running)
	}
	app.UI.Successf("Rolled back to %s; the image it replaced is kept as previous (again: occ update --rollback)", describeImage(res.Image))
	c.report(ctx, app, sb, res)
	return nil
}

func (c *UpdateCmd) confirm(app *App, question string) error {
	if c.Yes {
		return nil
	}
	ok, err := app.Confirm(question, true, "--yes")
	if err != nil {
		return err
	}
	if !ok {
		return errdefs.ErrAborted.WithMessage("Aborted; nothing was changed.")
	}
	return nil
}

// acquire pulls or builds the new image into the staging record, per
// image_source.
func (c *UpdateCmd) acquire(ctx context.Context, app *App, cfg *meta.Config, rt *runtime.Client) (images.Image, error) {
	if cfg.ImageSource == meta.SourceBuild {
		app.UI.Infof("Rebuilding the sandbox image from source (image_source is build; to pull instead: occ config set image_source prebuilt)")
		res, err := buildSandboxImageAs(ctx, app, rt, false, meta.UpdateImageName)
		if err != nil {
			return images.Image{}, err
		}
		return res.Image, nil
	}
	app.UI.Infof("Pulling the prebuilt sandbox image (image_source is prebuilt; to build from source instead: occ config set image_source build)")
	src, err := registry.SourceFromConfig(cfg)
	if err != nil {
		return images.Image{}, err
	}
	res, err := pullImage(ctx, app, cfg, rt, src, meta.UpdateImageName)
	if err != nil {
		return images.Image{}, err
	}
	return res.Image, nil
}

func (c *UpdateCmd) report(ctx context.Context, app *App, sb *runtime.Sandbox, res *runtime.SwitchResult) {
	switch {
	case res.Started:
		if st, err := sb.Status(ctx); err == nil {
			app.UI.Printf("URL:        %s", st.URL())
		}
		app.UI.Printf("Container:  %s", sb.Name())
	case res.Recreated:
		app.UI.Infof("The container was recreated but not started (it was not running); start it with: occ start")
	default:
		app.UI.Infof("There is no sandbox container yet; `occ start` creates it from this image.")
	}
}

// switchFailure words a failed update or rollback: what went wrong, and
// what runs now.
func switchFailure(what string, err error, running bool) error {
	var se *runtime.SwitchError
	if !errors.As(err, &se) {
		return fmt.Errorf("%s failed: %w", strings.ToLower(what), err)
	}
	cause := strings.TrimSpace(se.Cause.Error())
	if se.Interrupted || errors.Is(se.Cause, context.Canceled) {
		cause = "interrupted"
	}
	if se.RollbackErr != nil {
		return fmt.Errorf("%s failed: %s.\nRolling back to %s failed too: %v\nThe image records and state are back as before; to try again: occ start (or occ update --rollback): %w",
			what, cause, describeImage(se.Restored), se.RollbackErr, se)
	}
	state := "the container is back as before"
	if running {
		state = "it is running and answering as before"
	}
	return &rolledBackError{msg: fmt.Sprintf("%s failed: %s.\nRolled back to %s; %s.", what, cause, describeImage(se.Restored), state), err: se}
}

// rolledBackError keeps the wording above while errors.Is still sees the
// cause (an interrupt exits 130).
type rolledBackError struct {
	msg string
	err error
}

func (e *rolledBackError) Error() string { return e.msg }
func (e *rolledBackError) Unwrap() error { return e.err }

// describeImage names an image for people: its version and digest, and
// where it came from.
func describeImage(img images.Image) string {
	d := img.Target.Digest.String()
	p, ok := meta.ProvenanceFromLabels(img.Labels)
	if !ok {
		return d
	}
	var b strings.Builder
	if v := strings.TrimPrefix(p.ImageVersion, "v"); v != "" && v != "dev" {
		b.WriteString("v" + v + " ")
	}
	b.WriteString("(" + d)
	switch p.Source {
	case meta.SourcePrebuilt:
		if p.Reference != "" {
			b.WriteString(", " + p.Reference)
		}
	case meta.SourceBuild:
		b.WriteString(", built " + p.AcquiredAt.Local().Format(time.DateTime))
	}
	b.WriteString(")")
	return b.String()
}
