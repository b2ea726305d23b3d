package ops

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/client"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/registry"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// ImageBuildOptions are `occ image build`'s, parsed.
type ImageBuildOptions struct {
	Context      *build.Context // nil: the sandbox context embedded in occ
	NoCache      bool
	BuildArgs    map[string]string
	CacheImports []client.CacheOptionsEntry
	CacheExports []client.CacheOptionsEntry
	// ProgressMode is BuildKit's progress output (quiet with -q).
	ProgressMode string
}

// ImageBuild builds the sandbox image with BuildKit, lands it in
// containerd as the current sandbox image and records its provenance,
// under occ's lock.
func (e *Env) ImageBuild(ctx context.Context, o ImageBuildOptions) (*build.Result, error) {
	lock, err := e.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	cfg, err := e.LoadConfig()
	if err != nil {
		return nil, err
	}
	// Dial containerd and BuildKit side by side.
	var (
		rt           *runtime.Client
		bk           *build.Daemon
		rtErr, bkErr error
		wg           sync.WaitGroup
	)
	wg.Go(func() { rt, rtErr = e.dial(ctx, cfg) })
	wg.Go(func() { bk, bkErr = build.Connect(ctx, cfg.BuildkitAddresses()) })
	wg.Wait()
	if rt != nil {
		defer rt.Close()
	}
	if bk != nil {
		defer bk.Close()
	}
	if rtErr != nil {
		return nil, rtErr
	}
	if bkErr != nil {
		return nil, bkErr
	}
	e.tidyAfterKilled(ctx, rt)
	what := "the embedded sandbox context"
	if o.Context != nil {
		what = o.Context.Name
	}
	e.Report.Infof("Building the sandbox image from %s with BuildKit %s (%s)...", what, bk.Version, bk.Address)
	hosts := registry.NewHosts(registry.DefaultCertsDirs(e.Paths.ConfigDir())...)
	auth, err := buildAuth(registry.Keychain, hosts)
	if err != nil {
		return nil, err
	}
	baseImage, err := e.mirrorBase(ctx, hosts, o)
	if err != nil {
		return nil, err
	}
	res, err := build.Build(ctx, bk, rt.ImageStore(), build.Options{Auth: auth, BaseImage: baseImage,
		Context: o.Context, NoCache: o.NoCache, BuildArgs: o.BuildArgs, CacheImports: o.CacheImports, CacheExports: o.CacheExports,
		StateFile: e.Paths.StateFile(), ExtraCAFiles: cfg.BuildCAFiles,
		Progress: e.Progress.BuildOutput(), ProgressMode: o.ProgressMode, Logf: e.Report.Verbosef,
	})
	if err != nil {
		return nil, err
	}
	e.reportBuild(res)
	return res, nil
}

// mirrorResolveTimeout bounds asking the mirrors for the base image.
const mirrorResolveTimeout = 30 * time.Second

// mirrorBase is the BASE_IMAGE a build gets when hosts.toml names mirrors
// for the base image's registry: the base pinned by digest on the first
// mirror that has it. BuildKit's daemon pulls with its own registry
// configuration (buildkitd.toml), which a client cannot change per
// build, so this is how a build follows occ's mirrors. "" leaves the
// base image as it is (no mirror, none answered, or a build context of
// the user's own without --build-arg BASE_IMAGE).
func (e *Env) mirrorBase(ctx context.Context, hosts *registry.Hosts, o ImageBuildOptions) (string, error) {
	base := o.BuildArgs[build.ArgBaseImage]
	if base == "" {
		if o.Context != nil {
			return "", nil // its FROM is the user's
		}
		base = build.DefaultBaseImage
	}
	rctx, cancel := context.WithTimeout(ctx, mirrorResolveTimeout)
	defer cancel()
	pin, err := registry.ResolveViaMirror(rctx, hosts, base)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		e.Report.Verbosef("The mirrors for base image %s did not answer within %s; BuildKit pulls it with its own registry configuration.", base, mirrorResolveTimeout)
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if pin.Ref == "" {
		if len(pin.Tried) > 0 {
			e.Report.Verbosef("No mirror in hosts.toml has base image %s (%s); BuildKit pulls it with its own registry configuration.",
				base, strings.Join(pin.Tried, "; "))
		}
		return "", nil
	}
	e.Report.Verbosef("Base image %s resolved through mirror %s: building FROM %s (BuildKit pulls it from the mirror with its own registry configuration; a private CA for %s goes in buildkitd.toml's [registry.%q] ca).",
		base, pin.Mirror, pin.Ref, pin.Mirror, pin.Mirror)
	return pin.Ref, nil
}

// reportBuild says what a build did and how the image landed.
func (e *Env) reportBuild(res *build.Result) {
	if ca := res.ExtraCA; ca != nil && ca.Count > 0 {
		e.Report.Infof("Passed %d extra CA certificate(s) from %s to the downloading steps (build secret %s; not stored in the image).",
			ca.Count, strings.Join(ca.Files, ", "), build.ExtraCASecretID)
	}
	ran, cached := build.CountSteps(res.Steps)
	via := map[build.Landing]string{
		build.LandDirect:       "exported by BuildKit's containerd worker straight into containerd",
		build.LandContentStore: "written by BuildKit into containerd's content store",
		build.LandArchive:      "imported into containerd from an OCI archive",
	}[res.Landing]
	e.Report.Successf("Built %s (%s, version %s) in %s: %d Dockerfile steps ran, %d cached; %s.",
		res.Image.Name, res.Digest, res.Provenance.ImageVersion, res.Duration.Round(100*time.Millisecond), ran, cached, via)
}
