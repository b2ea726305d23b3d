package main

import (
	"context"
	"os"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/ops"
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
	mode := c.Progress
	if app.UI.Quiet {
		mode = build.ProgressQuiet
	}
	res, err := app.ops().ImageBuild(ctx, ops.ImageBuildOptions{Context: bctx, NoCache: c.NoCache, BuildArgs: args,
		CacheImports: from, CacheExports: to, ProgressMode: mode})
	if err != nil {
		return err
	}
	app.UI.Printf("%s", res.Digest)
	return nil
}
