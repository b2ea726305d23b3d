package main

import (
	"context"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// ImageBuildCmd builds the sandbox image from the context embedded in occ
// (or --context DIR) with BuildKit, lands it in containerd as the current
// sandbox image and records its provenance.
type ImageBuildCmd struct {
	NoCache   bool     `name:"no-cache" help:"Rebuild every step instead of reusing BuildKit's cache."`
	BuildArg  []string `name:"build-arg" sep:"none" placeholder:"K=V" help:"Pass a build argument (repeatable); a bare K takes its value from the environment. BASE_IMAGE overrides the base image, SOURCE_DATE_EPOCH makes timestamps reproducible (default: $SOURCE_DATE_EPOCH)."`
	CacheFrom []string `name:"cache-from" sep:"none" placeholder:"SPEC" help:"Import build cache (repeatable): type=local,src=DIR or type=registry,ref=REPO:TAG."`
	CacheTo   []string `name:"cache-to" sep:"none" placeholder:"SPEC" help:"Export build cache (repeatable): type=local,dest=DIR or type=registry,ref=REPO:TAG (mode=max unless mode=min is given)."`
	Context   string   `name:"context" placeholder:"DIR" help:"Build this context directory (with a Dockerfile) instead of the sandbox context built into occ."`
	Progress  string   `name:"progress" enum:"auto,tty,plain,quiet,rawjson" default:"auto" help:"BuildKit progress output: auto (tty on a terminal, else plain), tty, plain, quiet or rawjson (default ${default}). -q means quiet."`
}

func (c *ImageBuildCmd) Run(ctx context.Context, app *App) error {
	args, err := build.ParseBuildArgs(c.BuildArg, os.LookupEnv)
	if err != nil {
		return err
	}
	from, err := build.ParseCacheImports(c.CacheFrom)
	if err != nil {
		return err
	}
	to, err := build.ParseCacheExports(c.CacheTo)
	if err != nil {
		return err
	}
	var bctx *build.Context
	if c.Context != "" {
		if bctx, err = build.DirContext(c.Context); err != nil {
			return err
		}
	}

	cfg, unlock, err := app.LockAndLoad(ctx)
	if err != nil {
		return err
	}
	defer unlock()

	// Dial containerd and BuildKit side by side.
	var rt *runtime.Client
	var bk *build.Daemon
	var rtErr, bkErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		rt, rtErr = runtime.ConnectConfig(ctx, cfg)
	})
	wg.Go(func() { bk, bkErr = build.Connect(ctx, cfg.BuildkitAddresses()) })
	wg.Wait()
	if rt != nil {
		defer rt.Close()
	}
	if bk != nil {
		defer bk.Close()
	}
	if rtErr != nil {
		return rtErr
	}
	if bkErr != nil {
		return bkErr
	}
	app.tidyAfterKilled(ctx, rt)

	mode := c.Progress
	if app.Globals.Quiet {
		mode = build.ProgressQuiet
	}
	what := "the embedded sandbox context"
	if bctx != nil {
		what = bctx.Name
	}
	app.UI.Infof("Building the sandbox image from %s with BuildKit %s (%s)...", what, bk.Version, bk.Address)
	res, err := build.Build(ctx, bk, rt.ImageStore(), build.Options{
		Context:      bctx,
		NoCache:      c.NoCache,
		BuildArgs:    args,
		CacheImports: from,
		CacheExports: to,
		StateFile:    app.Paths.StateFile(),
		ExtraCAFiles: cfg.BuildCAFiles,
		Progress:     app.UI.Err,
		ProgressMode: mode,
		Logf:         app.UI.Verbosef,
	})
	if err != nil {
		return err
	}
	if ca := res.ExtraCA; ca != nil && ca.Count > 0 {
		app.UI.Infof("Passed %d extra CA certificate(s) from %s to the downloading steps (build secret %s; not stored in the image).",
			ca.Count, strings.Join(ca.Files, ", "), build.ExtraCASecretID)
	}
	ran, cached := build.CountSteps(res.Steps)
	via := map[build.Landing]string{
		build.LandDirect:       "exported by BuildKit's containerd worker straight into containerd",
		build.LandContentStore: "written by BuildKit into containerd's content store",
		build.LandArchive:      "imported into containerd from an OCI archive",
	}[res.Landing]
	app.UI.Successf("Built %s (%s, version %s) in %s: %d Dockerfile steps ran, %d cached; %s.",
		res.Image.Name, res.Digest, res.Provenance.ImageVersion, res.Duration.Round(100*time.Millisecond), ran, cached, via)
	app.UI.Printf("%s", res.Digest)
	return nil
}
