package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// Choose asks the user to pick one of options (numbered from 1) and returns
// the number; Enter takes def. It needs a terminal.
func (a *App) Choose(question string, options []string, def int) (int, error) {
	if !a.Interactive {
		return 0, errNeedsTTY(question, "the matching flag")
	}
	choice := 0
	err := a.withLockSuspended(func() error {
		for i, o := range options {
			fmt.Fprintf(a.UI.Err, "  [%d] %s\n", i+1, o)
		}
		rd := bufio.NewReader(a.In)
		for {
			fmt.Fprintf(a.UI.Err, "%s [%d]: ", question, def)
			line, err := a.interruptible(func() (string, error) { return rd.ReadString('\n') }, nil)
			if isInterrupt(err) {
				return err
			}
			if err != nil && line == "" {
				return errdefs.ErrAborted.WithMessage(fmt.Sprintf("no answer to %q", question))
			}
			s := strings.TrimSpace(line)
			if s == "" {
				choice = def
				return nil
			}
			if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= len(options) {
				choice = n
				return nil
			}
			fmt.Fprintf(a.UI.Err, "Please answer 1 to %d.\n", len(options))
		}
	})
	return choice, err
}

// acquireImageAs pulls or builds the sandbox image into the record name
// ("": meta.CurrentImageName, with its provenance and the image state). A
// failed pull offers a build on a terminal; off one, the error says how to
// build instead.
func acquireImageAs(ctx context.Context, app *App, cfg *meta.Config, rt *runtime.Client, action imageAction, name string) error {
	if action != imagePull {
		_, err := buildSandboxImageAs(ctx, app, rt, action == imageBuildFull, name)
		return err
	}
	src, err := registry.SourceFromConfig(cfg)
	if err != nil {
		return err
	}
	_, pullErr := pullImage(ctx, app, cfg, rt, src, name)
	if pullErr == nil || ctx.Err() != nil {
		return pullErr
	}
	if !app.Interactive {
		return fmt.Errorf("%w\nTo build the image from source instead: occ start --cached-rebuild-sandbox-image (or make it the default: occ config set image_source build)", pullErr)
	}
	app.UI.PrintError(fmt.Errorf("failed to pull the prebuilt image: %w", pullErr))
	ok, err := app.Confirm("Build from source instead? (This takes 30-60 minutes)", true, "--cached-rebuild-sandbox-image")
	if err != nil {
		return err
	}
	if !ok {
		return pullErr
	}
	_, err = buildSandboxImageAs(ctx, app, rt, false, name)
	return err
}

// buildContextEnv names a directory (with a Dockerfile) that start and
// update build instead of the sandbox context embedded in occ: for
// developing the sandbox and for tests; normally unset.
const buildContextEnv = "OCC_BUILD_CONTEXT"

// buildSandboxImageAs builds the sandbox image into the record name; ""
// means meta.CurrentImageName with the image state written, any other name
// (update's staging record) leaves the state file alone.
func buildSandboxImageAs(ctx context.Context, app *App, rt *runtime.Client, noCache bool, name string) (*build.Result, error) {
	cfg, _, err := app.LoadConfig()
	if err != nil {
		return nil, err
	}
	var bctx *build.Context
	if dir := os.Getenv(buildContextEnv); dir != "" {
		if bctx, err = build.DirContext(dir); err != nil {
			return nil, fmt.Errorf("%s: %w", buildContextEnv, err)
		}
	}
	bk, err := build.Connect(ctx, cfg.BuildkitAddresses())
	if err != nil {
		return nil, err
	}
	defer bk.Close()
	kind := "cached"
	if noCache {
		kind = "full, no cache"
	}
	what := ""
	if bctx != nil {
		what = " (context " + bctx.Name + ")"
	}
	app.UI.Infof("Building the sandbox image from source%s (%s) with BuildKit %s (%s)...", what, kind, bk.Version, bk.Address)
	mode := build.ProgressAuto
	if app.Globals.Quiet {
		mode = build.ProgressQuiet
	}
	opts := build.Options{
		Context:      bctx,
		NoCache:      noCache,
		Name:         name,
		ExtraCAFiles: cfg.BuildCAFiles,
		Progress:     app.UI.Err,
		ProgressMode: mode,
		Logf:         app.UI.Verbosef,
	}
	if name == "" || name == meta.CurrentImageName {
		opts.StateFile = app.Paths.StateFile()
	}
	res, err := build.Build(ctx, bk, rt.ImageStore(), opts)
	if err != nil {
		return nil, err
	}
	app.UI.Successf("Built %s (%s) in %s", res.Image.Name, res.Digest, res.Duration.Round(100*time.Millisecond))
	return res, nil
}

// versionCheck compares the image's version label with occ's, per
// update_check: always asks on a mismatch, once asks once per (CLI
// version, image digest) and remembers the answer, never skips. Off a
// terminal a mismatch is a warning, shown at most once an hour. An answer
// of pull or rebuild acquires the image (the container is then recreated
// because its image digest differs).
func versionCheck(ctx context.Context, app *App, cfg *meta.Config, rt *runtime.Client) (acquired bool, err error) {
	if cfg.UpdateCheck == meta.UpdateCheckNever || meta.IsDevBuild() {
		return false, nil // a development build takes any sandbox (it pulls latest)
	}
	img, err := rt.ImageService().Get(rt.WithNamespace(ctx), meta.CurrentImageName)
	if err != nil {
		return false, nil // nothing to compare (acquisition reports its own errors)
	}
	ic, err := rt.ImageStore().ImageConfig(ctx, img.Target)
	if err != nil {
		app.UI.Verbosef("read the image config for the version check: %v", err)
		return false, nil
	}
	imageVer := ic.Config.Labels[meta.ImageVersionLabel]
	if imageVer == "" || imageVer == "dev" || meta.VersionsMatch(meta.Version, imageVer) {
		return false, nil // unlabelled and dev images are taken as compatible
	}
	dg := img.Target.Digest.String()
	memPath := app.Paths.UpdateCheckFile()
	mem := meta.LoadUpdateCheck(memPath)
	answer, remembered := "", false
	if cfg.UpdateCheck == meta.UpdateCheckOnce {
		answer, remembered = mem.Answer(meta.Version, dg)
	}
	if !remembered {
		if !app.Interactive {
			if mem.ShouldWarn(time.Now()) {
				app.UI.Warnf("the sandbox image is v%s but occ is v%s; update with `occ start --pull-sandbox-image` (or --cached-rebuild-sandbox-image), or skip this check with --ignore-version",
					strings.TrimPrefix(imageVer, "v"), strings.TrimPrefix(meta.Version, "v"))
				if err := mem.Save(memPath); err != nil {
					app.UI.Verbosef("%v", err)
				}
			}
			return false, nil
		}
		app.UI.Warnf("version mismatch: the sandbox image is v%s, occ is v%s.", strings.TrimPrefix(imageVer, "v"), strings.TrimPrefix(meta.Version, "v"))
		n, err := app.Choose("What would you like to do?", []string{
			"Pull the prebuilt image (recommended)",
			"Rebuild the image from source",
			"Continue with mismatched versions",
		}, 1)
		if err != nil {
			return false, err
		}
		answer = []string{"", meta.UpdateAnswerPull, meta.UpdateAnswerRebuild, meta.UpdateAnswerContinue}[n]
		if cfg.UpdateCheck == meta.UpdateCheckOnce {
			mem.Remember(meta.Version, dg, answer, time.Now())
			if err := mem.Save(memPath); err != nil {
				app.UI.Warnf("%v", err)
			}
		}
	}
	switch answer {
	case meta.UpdateAnswerPull:
		return true, acquireImage(ctx, app, cfg, rt, imagePull)
	case meta.UpdateAnswerRebuild:
		return true, acquireImage(ctx, app, cfg, rt, imageBuildCached)
	}
	return false, nil
}
