package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/runtime/restart"
	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
	"github.com/opencode-cloud/occ/pkg/service"
)

// StartOptions are `occ start`'s, its flags checked.
type StartOptions struct {
	// Port, when not 0, is the host port for this run only.
	Port int
	// Mounts are bind mounts for this run only, after the configured ones
	// (none of those with NoMounts).
	Mounts   []string
	NoMounts bool
	// Image is what to do about the image (flags); ImageKeep gets one only
	// when there is none.
	Image ImageAction
	// IgnoreVersion and NoUpdateCheck skip the image's version check.
	IgnoreVersion, NoUpdateCheck bool
	// Yes answers the questions about stopping for an image change and
	// recreating the container.
	Yes bool
}

// StartResult is a started (or already running) sandbox. Close it; with
// --no-daemon, Supervise it first.
type StartResult struct {
	Running
	AlreadyRunning bool `json:"already_running"`

	env     *Env
	session *Session
}

// Start gets the sandbox image if needed (pull or build, per options, the
// first-run question or image_source), creates or recreates the
// container, starts it and waits until the service answers.
func (e *Env) Start(ctx context.Context, o StartOptions) (res *StartResult, err error) {
	s, err := e.Open(ctx, OpenOptions{Lock: true, Validate: true, Override: o.override})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	running := s.Running()
	if err := e.gateStart(s, o, running); err != nil {
		return nil, err
	}
	acquired, err := e.ensureImage(ctx, s, o)
	if err != nil {
		return nil, err
	}
	if running, err = e.ensureContainer(ctx, s, running, acquired || o.Yes); err != nil {
		return nil, err
	}
	res = &StartResult{AlreadyRunning: running, env: e, session: s}
	if running {
		e.Report.Successf("Service is already running")
	} else {
		if err := e.startAndWait(ctx, s.Sandbox); err != nil {
			return nil, err
		}
		e.Report.Successf("Service started")
	}
	st, err := s.Sandbox.Status(ctx)
	if err != nil {
		return nil, err
	}
	res.Running = runningOf(st, s.Sandbox.Name(), s.Config)
	return res, nil
}

// override applies the per-run flags to the loaded config (never saved).
func (o StartOptions) override(cfg *meta.Config) {
	if o.Port != 0 {
		cfg.OpencodeWebPort = o.Port
	}
	if o.NoMounts {
		cfg.Mounts = nil
	}
	cfg.Mounts = append(append([]string{}, cfg.Mounts...), o.Mounts...)
}

// gateStart asks before an image change stops a running container, and
// refuses a start nobody could log in to, before any download.
func (e *Env) gateStart(s *Session, o StartOptions, running bool) error {
	if o.Image != ImageKeep && running && !o.Yes {
		ok, err := e.Prompt.Confirm("Container is running. Stop and apply image change?", false, "--yes")
		if err != nil {
			return err
		}
		if !ok {
			return errdefs.ErrAborted.WithMessage("Aborted; nothing was changed. Stop the container first with: occ stop")
		}
	}
	if !running || o.Image != ImageKeep {
		if err := CheckUsers(s.Config, e.Paths); err != nil {
			return err
		}
		WarnExposure(e.Report, s.Config, e.Paths)
	}
	return nil
}

// ensureImage gets the image the flags ask for, else the first-run
// choice when there is none, else checks the one there against occ's
// version. It says whether a new image was acquired.
func (e *Env) ensureImage(ctx context.Context, s *Session, o StartOptions) (bool, error) {
	action := o.Image
	_, imgErr := s.Client.ImageStore().Image(ctx, e.Paths.Images().Current)
	if imgErr != nil && !errdefs.IsNotFound(imgErr) {
		return false, fmt.Errorf("look up the sandbox image: %w", imgErr)
	}
	if action == ImageKeep && imgErr != nil {
		var err error
		if action, err = e.firstRunSource(s.Config); err != nil {
			return false, err
		}
	}
	if action != ImageKeep {
		return true, e.Acquire(ctx, s.Config, s.Client, action)
	}
	if o.IgnoreVersion || o.NoUpdateCheck {
		return false, nil
	}
	return e.versionCheck(ctx, s.Config, s.Client)
}

// ensureContainer creates the container, or recreates it when it no
// longer matches the configuration (without asking when recreate is set).
// It says whether the container still runs.
func (e *Env) ensureContainer(ctx context.Context, s *Session, running, recreate bool) (bool, error) {
	if s.State.State == runtime.StateMissing {
		e.Report.Infof("Creating the sandbox container...")
		return running, s.Sandbox.Create(ctx)
	}
	recreated, err := e.recreateIfChanged(ctx, s.Sandbox, recreateAsk{yes: recreate, doing: "Recreating the sandbox container (volumes are kept)..."})
	if err != nil {
		return running, err
	}
	return running && !recreated, nil
}

// firstRunSource asks where the first image comes from (saving the answer
// to image_source), or takes image_source from the config off a terminal.
func (e *Env) firstRunSource(cfg *meta.Config) (ImageAction, error) {
	fromConfig := func() ImageAction {
		if cfg.ImageSource == meta.SourceBuild {
			return ImageBuildCached
		}
		return ImagePull
	}
	if !e.Prompt.CanPrompt() {
		e.Report.Infof("No sandbox image yet; image_source in the config says %s (change it with: occ config set image_source prebuilt|build).", cfg.ImageSource)
		return fromConfig(), nil
	}
	def := 1
	if cfg.ImageSource == meta.SourceBuild {
		def = 2
	}
	e.Report.Infof("\n%s\nThe sandbox image can be pulled prebuilt from the registry or built from source on this machine.", e.Report.Heading("Sandbox Image Setup"))
	choice, err := e.Prompt.Choose("How would you like to get the sandbox image?", []string{
		"Pull prebuilt image (~2 min)",
		"Build from source (30-60 min)",
	}, def)
	if err != nil {
		return ImageKeep, err
	}
	src := meta.SourcePrebuilt
	if choice == 2 {
		src = meta.SourceBuild
	}
	if src != cfg.ImageSource {
		// The lock is held: save directly, from a fresh load so per-run
		// overrides are not written.
		saved, _, err := meta.LoadConfigFor(e.Paths)
		if err != nil {
			return ImageKeep, err
		}
		saved.ImageSource = src
		if err := meta.SaveConfig(e.Paths.ConfigFile, saved); err != nil {
			return ImageKeep, err
		}
		cfg.ImageSource = src
		e.Report.Infof("Saved image_source = %s.", src)
	}
	return fromConfig(), nil
}

// Close lets go of the sandbox (and the lock, when still held).
func (r *StartResult) Close() { r.session.Close() }

// supervisorLockWait bounds how long the supervisor waits for another occ
// (an update that builds, say) before it judges a container that is not
// running.
const supervisorLockWait = time.Hour

// Supervise waits while the container runs, without occ's lock (so `occ
// stop`, a unit's ExecStop, can run). It returns nil when the container
// was stopped on purpose (occ stop) or when ctx ends (SIGTERM/SIGINT: then
// it stops the container first), and an error when the container exits on
// its own, so a service manager restarts occ.
func (r *StartResult) Supervise(ctx context.Context) error {
	r.session.Unlock()
	e, sb := r.env, r.session.Sandbox
	e.Report.Infof("Supervising the container (Ctrl+C or SIGTERM stops it)...")
	// Under systemd (Type=notify): READY=1 once the sandbox answers its
	// health check, WATCHDOG=1 while it keeps answering, STOPPING=1 on the way out.
	notifier, err := service.NewNotifier()
	if err != nil {
		e.Report.Warnf("%v", err)
	}
	stopNotify := notifier.Supervise(ctx, "the sandbox answers on "+sb.PublishedAddress(), func(ctx context.Context) error {
		if h := sb.Health(ctx); h.State != runtime.Healthy {
			return errors.New(h.String())
		}
		return nil
	})
	defer stopNotify("occ is exiting")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			stopNotify("stopping the sandbox")
			return e.stopSupervised(ctx, sb)
		case <-tick.C:
		}
		st, err := e.settledStatus(ctx, sb)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return err
		}
		if done, err := supervisedExit(e.Report, st); done {
			return err
		}
	}
}

// stopSupervised stops the container when the supervisor is told to stop.
func (e *Env) stopSupervised(ctx context.Context, sb *runtime.Sandbox) error {
	e.Report.Infof("Stopping the service...")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), runtime.DefaultStopTimeout+10*time.Second)
	defer cancel()
	if _, err := sb.Stop(sctx, runtime.DefaultStopTimeout); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	e.Report.Successf("Service stopped")
	return nil
}

// settledStatus reads the container's state; one that is not running is
// read again once no other occ is at work (an update or restart may be
// replacing the container).
func (e *Env) settledStatus(ctx context.Context, sb *runtime.Sandbox) (runtime.Status, error) {
	st, err := sb.Status(ctx)
	if err != nil || isRunning(st) {
		return st, err
	}
	lock, err := meta.AcquireLock(ctx, e.Paths.LockFile(), supervisorLockWait)
	if err != nil {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		return st, nil
	}
	defer lock.Unlock()
	return sb.Status(ctx)
}

// supervisedExit judges a container's state: done when it is no longer
// running, with an error when it stopped on its own.
func supervisedExit(r Reporter, st runtime.Status) (bool, error) {
	switch {
	case isRunning(st):
		return false, nil
	case st.State == runtime.StateMissing:
		r.Infof("The container was removed.")
		return true, nil
	case st.Labels[restart.ExplicitlyStoppedLabel] == "true":
		r.Infof("The service was stopped.")
		return true, nil
	}
	code := uint32(0)
	if st.ExitCode != nil {
		code = *st.ExitCode
	}
	return true, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("the container stopped on its own (exit code %d); see: occ logs", code))
}

// versionCheck compares the image's version label with occ's, per
// update_check: always asks on a mismatch, once asks once per (CLI
// version, image digest) and remembers the answer, never skips. Off a
// terminal a mismatch is a warning, shown at most once an hour. An answer
// of pull or rebuild acquires the image (the container is then recreated
// because its image digest differs).
func (e *Env) versionCheck(ctx context.Context, cfg *meta.Config, rt *runtime.Client) (acquired bool, err error) {
	if cfg.UpdateCheck == meta.UpdateCheckNever || meta.IsDevBuild() {
		return false, nil // a development build takes any sandbox (it pulls latest)
	}
	img, err := rt.ImageStore().Image(ctx, e.Paths.Images().Current)
	if err != nil {
		return false, nil // nothing to compare (acquisition reports its own errors)
	}
	ic, err := rt.ImageStore().ImageConfig(ctx, img.Target)
	if err != nil {
		e.Report.Verbosef("read the image config for the version check: %v", err)
		return false, nil
	}
	imageVer := ic.Config.Labels[meta.ImageVersionLabel]
	if imageVer == "" || imageVer == "dev" || meta.VersionsMatch(meta.Version, imageVer) {
		return false, nil // unlabelled and dev images are taken as compatible
	}
	answer, err := e.versionAnswer(cfg, img.Target.Digest.String(), imageVer)
	switch {
	case err != nil:
		return false, err
	case answer == meta.UpdateAnswerPull:
		return true, e.Acquire(ctx, cfg, rt, ImagePull)
	case answer == meta.UpdateAnswerRebuild:
		return true, e.Acquire(ctx, cfg, rt, ImageBuildCached)
	}
	return false, nil
}

// versionAnswer is what to do about a version mismatch: the remembered
// answer, the person's, or (off a terminal) continue after a warning.
func (e *Env) versionAnswer(cfg *meta.Config, dg, imageVer string) (string, error) {
	memPath := e.Paths.UpdateCheckFile()
	mem := meta.LoadUpdateCheck(memPath)
	if cfg.UpdateCheck == meta.UpdateCheckOnce {
		if answer, ok := mem.Answer(meta.Version, dg); ok {
			return answer, nil
		}
	}
	iv, cv := strings.TrimPrefix(imageVer, "v"), strings.TrimPrefix(meta.Version, "v")
	if !e.Prompt.CanPrompt() {
		if mem.ShouldWarn(time.Now()) {
			e.Report.Warnf("the sandbox image is v%s but occ is v%s; update with `occ start --pull-sandbox-image` (or --cached-rebuild-sandbox-image), or skip this check with --ignore-version", iv, cv)
			if err := mem.Save(memPath); err != nil {
				e.Report.Verbosef("%v", err)
			}
		}
		return meta.UpdateAnswerContinue, nil
	}
	e.Report.Warnf("version mismatch: the sandbox image is v%s, occ is v%s.", iv, cv)
	n, err := e.Prompt.Choose("What would you like to do?", []string{
		"Pull the prebuilt image (recommended)",
		"Rebuild the image from source",
		"Continue with mismatched versions",
	}, 1)
	if err != nil {
		return "", err
	}
	answer := []string{"", meta.UpdateAnswerPull, meta.UpdateAnswerRebuild, meta.UpdateAnswerContinue}[n]
	if cfg.UpdateCheck == meta.UpdateCheckOnce {
		mem.Remember(meta.Version, dg, answer, time.Now())
		if err := mem.Save(memPath); err != nil {
			e.Report.Warnf("%v", err)
		}
	}
	return answer, nil
}
