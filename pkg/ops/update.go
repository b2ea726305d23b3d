package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// UpdateOptions are `occ update`'s.
type UpdateOptions struct {
	// Yes skips the question.
	Yes bool
	// Rollback swaps the current and previous images instead.
	Rollback bool
	// OpencodeVersion, when set, rebuilds the image with BuildKit with
	// that opencode (whatever image_source says): `occ update opencode`.
	OpencodeVersion string
}

// UpdateResult is what an update or rollback did.
type UpdateResult struct {
	// UpToDate: the new image is the one running; nothing changed.
	UpToDate bool `json:"up_to_date"`
	// From and To describe the images (version, digest, origin).
	From string `json:"from"`
	To   string `json:"to"`
	// Started: the new container runs and answers at URL; Recreated: it
	// was made but not started (the old one was not running).
	Started   bool   `json:"started"`
	Recreated bool   `json:"recreated"`
	URL       string `json:"url,omitempty"`
	Container string `json:"container,omitempty"`
	// Reclaimed is what containerd freed after the update: the blobs and
	// snapshots of the images it left unreferenced, in bytes.
	Reclaimed int64 `json:"reclaimed_bytes"`
}

// UpdateReadyTimeout is how long update and rollback wait for the new
// container to answer before rolling back. Longer than start's: the old
// container was fine, so only a real failure should undo the change (an
// exit or a fatal log line is caught at once anyway), not a slow start on
// a busy machine.
const UpdateReadyTimeout = 3 * runtime.ReadyTimeout

// Update gets a new sandbox image the way image_source says into a staging
// record, keeps the one it replaces as previous, and recreates the
// container from it with the same settings, waiting until it answers. A
// failure or an interrupt goes back to the image that ran before.
func (e *Env) Update(ctx context.Context, o UpdateOptions) (*UpdateResult, error) {
	s, err := e.Open(ctx, OpenOptions{Lock: true, Validate: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	sb := s.Sandbox
	if s.State.State != runtime.StateMissing {
		// Recreate with exactly the settings the container has now.
		if sb, err = SandboxFor(s.Client, runtime.ContainerSettings(s.Config, s.State.Labels), e.Paths); err != nil {
			return nil, err
		}
	}
	cur, err := s.Client.ImageStore().Image(ctx, e.Paths.Images().Current)
	if errdefs.IsNotFound(err) {
		return nil, errdefs.ErrNotFound.WithMessage("there is no sandbox image to update yet: run `occ start` first (it pulls or builds one)")
	} else if err != nil {
		return nil, fmt.Errorf("look up the sandbox image: %w", err)
	}
	u := &updater{env: e, s: s, sb: sb, cur: cur, running: s.Running(), yes: o.Yes, opencode: o.OpencodeVersion}
	if o.Rollback {
		return u.rollback(ctx)
	}
	return u.update(ctx)
}

// updater is one update or rollback under way.
type updater struct {
	env     *Env
	s       *Session
	sb      *runtime.Sandbox
	cur     images.Image
	running bool
	yes     bool
	// opencode is update opencode's version ("": update the image).
	opencode string
}

func (u *updater) update(ctx context.Context) (*UpdateResult, error) {
	e := u.env
	question := "Update will stop the sandbox and recreate it. Continue?"
	if !u.running {
		question = "Update the sandbox image? (The sandbox is not running; the new image is used when it starts.) Continue?"
	}
	if err := u.confirm(question); err != nil {
		return nil, err
	}
	next, err := u.stage(ctx)
	if err != nil {
		return nil, err
	}
	if next == nil {
		upToDate := u.cur.Target.Digest.String()
		if p, ok := meta.ProvenanceFromLabels(u.cur.Labels); ok && p.ImageVersion != "" && p.ImageVersion != "dev" {
			upToDate += ", v" + strings.TrimPrefix(p.ImageVersion, "v")
		}
		e.Report.Successf("Already up to date (%s)", upToDate)
		d := DescribeImage(u.cur)
		return &UpdateResult{UpToDate: true, From: d, To: d, Reclaimed: u.reclaim(ctx)}, nil
	}
	e.Report.Infof("Updating from %s to %s...", DescribeImage(u.cur), DescribeImage(*next))
	res, err := u.sb.SwitchImage(ctx, u.switchOptions(func(ctx context.Context, r *runtime.ImageRecords) (images.Image, error) {
		return r.Promote(ctx, u.env.Paths.Images().Update)
	}))
	if err != nil {
		u.dropStaging(ctx)
		var se *runtime.SwitchError
		if !errors.As(err, &se) && ctx.Err() != nil {
			// Interrupted before the switch touched anything.
			return nil, fmt.Errorf("update interrupted; the sandbox and its images were not changed: %w", err)
		}
		return nil, switchFailure("Update", err, u.running)
	}
	e.Report.Successf("Updated to %s; the image it replaced is kept as previous (undo with: occ update --rollback)", DescribeImage(res.Image))
	r := u.result(ctx, res)
	r.Reclaimed = u.reclaim(ctx)
	return r, nil
}

// stage gets the new image into the staging record: current and previous
// stay as they are whatever happens to the pull or build. nil: the new
// image is the current one (the staging record is dropped).
func (u *updater) stage(ctx context.Context) (*images.Image, error) {
	is := u.s.Client.ImageStore()
	if err := is.DeleteImage(ctx, u.env.Paths.Images().Update); err != nil {
		return nil, fmt.Errorf("remove the leftover staging image %s: %w", u.env.Paths.Images().Update, err)
	}
	interrupted := func(err error) error {
		return fmt.Errorf("update interrupted; the sandbox and its images were not changed: %w", err)
	}
	next, err := u.acquire(ctx)
	if err != nil {
		u.dropStaging(ctx)
		if ctx.Err() != nil {
			return nil, interrupted(err)
		}
		hint := ""
		if u.s.Config.ImageSource != meta.SourceBuild {
			hint = "\nTo build the image from source instead: occ config set image_source build, then occ update"
		}
		return nil, fmt.Errorf("update failed: could not get the new image: %w\nThe sandbox and its images were not changed.%s", err, hint)
	}
	same, err := u.s.Client.SameImage(ctx, u.cur, next)
	if err == nil {
		err = ctx.Err() // nothing changed yet: an interrupt here still stops cleanly
	}
	if err != nil {
		u.dropStaging(ctx)
		if ctx.Err() != nil {
			return nil, interrupted(err)
		}
		return nil, err
	}
	if same {
		u.dropStaging(ctx)
		return nil, nil
	}
	return &next, nil
}

func (u *updater) dropStaging(ctx context.Context) {
	if err := u.s.Client.ImageStore().DeleteImage(context.WithoutCancel(ctx), u.env.Paths.Images().Update); err != nil {
		u.env.Report.Verbosef("remove the staging image %s: %v", u.env.Paths.Images().Update, err)
	}
}

// acquire pulls or builds the new image into the staging record, per
// image_source.
func (u *updater) acquire(ctx context.Context) (images.Image, error) {
	e, cfg := u.env, u.s.Config
	if u.opencode != "" {
		e.Report.Infof("Rebuilding the sandbox image with opencode %s (BuildKit, cached: only the opencode layer and what follows it are rebuilt)", u.opencode)
		res, err := e.buildWith(ctx, u.s.Client, false, e.Paths.Images().Update, map[string]string{build.ArgOpencodeVersion: u.opencode})
		if err != nil {
			return images.Image{}, err
		}
		return res.Image, nil
	}
	if cfg.ImageSource == meta.SourceBuild {
		e.Report.Infof("Rebuilding the sandbox image from source (image_source is build; to pull instead: occ config set image_source prebuilt)")
		res, err := e.Build(ctx, u.s.Client, false, e.Paths.Images().Update)
		if err != nil {
			return images.Image{}, err
		}
		return res.Image, nil
	}
	e.Report.Infof("Pulling the prebuilt sandbox image (image_source is prebuilt; to build from source instead: occ config set image_source build)")
	src, err := registry.SourceFromConfig(cfg)
	if err != nil {
		return images.Image{}, err
	}
	res, err := e.Pull(ctx, cfg, u.s.Client, PullOptions{Source: src, Name: e.Paths.Images().Update})
	if err != nil {
		return images.Image{}, err
	}
	return res.Image, nil
}

// rollback swaps the current and previous images and recreates the
// container from the previous one.
func (u *updater) rollback(ctx context.Context) (*UpdateResult, error) {
	e := u.env
	prev, err := u.s.Client.ImageStore().Image(ctx, u.env.Paths.Images().Previous)
	if errdefs.IsNotFound(err) {
		return nil, errdefs.ErrNotFound.WithMessage("No previous image to roll back to: occ keeps one when `occ update` replaces the sandbox image. Run `occ update` first.")
	} else if err != nil {
		return nil, fmt.Errorf("look up the previous sandbox image: %w", err)
	}
	question := fmt.Sprintf("Rollback will stop the sandbox and recreate it from the previous image, %s. Continue?", DescribeImage(prev))
	if !u.running {
		question = fmt.Sprintf("Make the previous image, %s, current again? Continue?", DescribeImage(prev))
	}
	if err := u.confirm(question); err != nil {
		return nil, err
	}
	e.Report.Infof("Rolling back from %s to %s...", DescribeImage(u.cur), DescribeImage(prev))
	res, err := u.sb.SwitchImage(ctx, u.switchOptions(func(ctx context.Context, r *runtime.ImageRecords) (images.Image, error) { return r.Swap(ctx) }))
	if err != nil {
		return nil, switchFailure("Rollback", err, u.running)
	}
	e.Report.Successf("Rolled back to %s; the image it replaced is kept as previous (again: occ update --rollback)", DescribeImage(res.Image))
	return u.result(ctx, res), nil
}

// reclaim has containerd collect what the update left unreferenced (the
// image that was previous before it, a staging image that was not needed)
// and reports the bytes freed; a failure only costs the figure.
func (u *updater) reclaim(ctx context.Context) int64 {
	n, err := u.s.Client.Reclaim(context.WithoutCancel(ctx))
	if err != nil {
		u.env.Report.Warnf("purge: %v", err)
		return 0
	}
	u.env.Report.Infof("purge reclaimed: %s", HumanBytes(n))
	return n
}

func (u *updater) switchOptions(change func(context.Context, *runtime.ImageRecords) (images.Image, error)) runtime.SwitchOptions {
	return runtime.SwitchOptions{
		Change:    change,
		StateFile: u.env.Paths.StateFile(),
		Ready:     runtime.ReadyOptions{Timeout: UpdateReadyTimeout},
		Notify:    func(m string) { u.env.Report.Infof("%s", m) },
	}
}

func (u *updater) confirm(question string) error {
	if u.yes {
		return nil
	}
	ok, err := u.env.Prompt.Confirm(question, true, "--yes")
	if err != nil {
		return err
	}
	if !ok {
		return errdefs.ErrAborted.WithMessage("Aborted; nothing was changed.")
	}
	return nil
}

// result is what the switch left, said as the CLI always has: where it
// answers, or why it does not run.
func (u *updater) result(ctx context.Context, res *runtime.SwitchResult) *UpdateResult {
	r := &UpdateResult{From: DescribeImage(u.cur), To: DescribeImage(res.Image), Started: res.Started, Recreated: res.Recreated}
	switch {
	case res.Started:
		if st, err := u.sb.Status(ctx); err == nil {
			r.URL = st.URL()
		}
		r.Container = u.sb.Name()
	case res.Recreated:
		u.env.Report.Infof("The container was recreated but not started (it was not running); start it with: occ start")
	default:
		u.env.Report.Infof("There is no sandbox container yet; `occ start` creates it from this image.")
	}
	return r
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
			what, cause, DescribeImage(se.Restored), se.RollbackErr, se)
	}
	state := "the container is back as before"
	if running {
		state = "it is running and answering as before"
	}
	return &rolledBackError{msg: fmt.Sprintf("%s failed: %s.\nRolled back to %s; %s.", what, cause, DescribeImage(se.Restored), state), err: se}
}

// rolledBackError keeps the wording above while errors.Is still sees the
// cause (an interrupt exits 130).
type rolledBackError struct {
	msg string
	err error
}

func (e *rolledBackError) Error() string { return e.msg }
func (e *rolledBackError) Unwrap() error { return e.err }

// DescribeImage names an image for people: its version and digest, and
// where it came from.
func DescribeImage(img images.Image) string {
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
