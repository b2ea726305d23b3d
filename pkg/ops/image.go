package ops

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
	"github.com/opencode-cloud/occ/pkg/runtime"
	"github.com/opencode-cloud/occ/pkg/trust"
)

// ImageAction is what an operation does about the sandbox image.
type ImageAction int

const (
	ImageKeep ImageAction = iota
	ImagePull
	ImageBuildCached
	ImageBuildFull
)

// ErrImageFlags is upstream's text for conflicting image flags.
const ErrImageFlags = "Only one of --pull-sandbox-image, --cached-rebuild-sandbox-image, or --full-rebuild-sandbox-image can be specified"

// ImageActionOf reads start's three image flags; more than one is an
// error.
func ImageActionOf(pull, cachedRebuild, fullRebuild bool) (ImageAction, error) {
	n, a := 0, ImageKeep
	for _, f := range []struct {
		on bool
		a  ImageAction
	}{{pull, ImagePull}, {cachedRebuild, ImageBuildCached}, {fullRebuild, ImageBuildFull}} {
		if f.on {
			n, a = n+1, f.a
		}
	}
	if n > 1 {
		return ImageKeep, errdefs.ErrInvalidArgument.WithMessage(ErrImageFlags)
	}
	return a, nil
}

// Acquire pulls or builds the sandbox image as meta.CurrentImageName for
// start's image flags and the version check's answers. When there is a
// current image already, the new one goes through update's staging record
// and replaces it the way `occ update` does: the image it replaces is kept
// as previous (record and image state), so that `occ update --rollback`
// can go back to it. An image the same as the current one changes nothing.
func (e *Env) Acquire(ctx context.Context, cfg *meta.Config, rt *runtime.Client, action ImageAction) error {
	nctx := rt.WithNamespace(ctx)
	cur, err := rt.ImageService().Get(nctx, e.Paths.Images().Current)
	if errdefs.IsNotFound(err) {
		return e.acquireAs(ctx, cfg, rt, action, "")
	} else if err != nil {
		return fmt.Errorf("look up the sandbox image: %w", err)
	}
	is := rt.ImageStore()
	if err := is.DeleteImage(ctx, e.Paths.Images().Update); err != nil {
		return fmt.Errorf("remove the leftover staging image %s: %w", e.Paths.Images().Update, err)
	}
	dropStaging := func() {
		if err := is.DeleteImage(context.WithoutCancel(ctx), e.Paths.Images().Update); err != nil {
			e.Report.Verbosef("remove the staging image %s: %v", e.Paths.Images().Update, err)
		}
	}
	if err := e.acquireAs(ctx, cfg, rt, action, e.Paths.Images().Update); err != nil {
		dropStaging()
		return err
	}
	next, err := rt.ImageService().Get(nctx, e.Paths.Images().Update)
	if err != nil {
		dropStaging()
		return fmt.Errorf("read the new image record %s: %w", e.Paths.Images().Update, err)
	}
	if same, err := rt.SameImage(ctx, cur, next); err != nil || same {
		dropStaging()
		if same {
			e.Report.Successf("%s is up to date (%s); previous is unchanged", e.Paths.Images().Current, cur.Target.Digest)
		}
		return err
	}
	return e.promoteStaged(ctx, rt, dropStaging)
}

// promoteStaged makes the staging record current, keeping the replaced
// image as previous; on failure the records and state are put back.
func (e *Env) promoteStaged(ctx context.Context, rt *runtime.Client, dropStaging func()) error {
	recs, err := rt.SaveImageRecords(ctx, e.Paths.Images(), e.Paths.StateFile())
	if err != nil {
		dropStaging()
		return err
	}
	defer recs.Release(ctx)
	if _, err := recs.Promote(ctx, e.Paths.Images().Update); err != nil {
		dropStaging()
		if rerr := recs.Restore(context.WithoutCancel(ctx)); rerr != nil {
			return fmt.Errorf("%w; putting the image records back failed too: %v", err, rerr)
		}
		return fmt.Errorf("%w (the image records and state are back as before)", err)
	}
	e.Report.Infof("The image it replaces is kept as previous (go back with: occ update --rollback)")
	return nil
}

// acquireAs pulls or builds the sandbox image into the record name ("":
// meta.CurrentImageName, with its provenance and the image state). A
// failed pull offers a build when a question can be asked; otherwise the
// error says how to build instead.
func (e *Env) acquireAs(ctx context.Context, cfg *meta.Config, rt *runtime.Client, action ImageAction, name string) error {
	if action != ImagePull {
		_, err := e.Build(ctx, rt, action == ImageBuildFull, name)
		return err
	}
	src, err := registry.SourceFromConfig(cfg)
	if err != nil {
		return err
	}
	_, pullErr := e.Pull(ctx, cfg, rt, PullOptions{Source: src, Name: name})
	if pullErr == nil || ctx.Err() != nil {
		return pullErr
	}
	if !e.Prompt.CanPrompt() {
		return fmt.Errorf("%w\nTo build the image from source instead: occ start --cached-rebuild-sandbox-image (or make it the default: occ config set image_source build)", pullErr)
	}
	e.Report.PrintError(fmt.Errorf("failed to pull the prebuilt image: %w", pullErr))
	ok, err := e.Prompt.Confirm("Build from source instead? (This takes 30-60 minutes)", true, "--cached-rebuild-sandbox-image")
	if err != nil {
		return err
	}
	if !ok {
		return pullErr
	}
	_, err = e.Build(ctx, rt, false, name)
	return err
}

// BuildContextEnv names a directory (with a Dockerfile) that start and
// update build instead of the sandbox context embedded in occ: for
// developing the sandbox and for tests; normally unset.
const BuildContextEnv = "OCC_BUILD_CONTEXT"

// Build builds the sandbox image with BuildKit into containerd, as the
// record name: "" means the instance's current record with the image state
// written; any other name (update's staging record) leaves the state file
// alone.
func (e *Env) Build(ctx context.Context, rt *runtime.Client, noCache bool, name string) (*build.Result, error) {
	return e.buildWith(ctx, rt, noCache, name, nil)
}

// buildWith is Build with build arguments (update opencode's
// OPENCODE_VERSION).
func (e *Env) buildWith(ctx context.Context, rt *runtime.Client, noCache bool, name string, args map[string]string) (*build.Result, error) {
	cfg, err := e.LoadConfig()
	if err != nil {
		return nil, err
	}
	var bctx *build.Context
	if dir := os.Getenv(BuildContextEnv); dir != "" {
		if bctx, err = build.DirContext(dir); err != nil {
			return nil, fmt.Errorf("%s: %w", BuildContextEnv, err)
		}
	}
	bk, err := build.Connect(ctx, cfg.BuildkitAddresses())
	if err != nil {
		return nil, err
	}
	defer bk.Close()
	kind, what := "cached", ""
	if noCache {
		kind = "full, no cache"
	}
	if bctx != nil {
		what = " (context " + bctx.Name + ")"
	}
	e.Report.Infof("Building the sandbox image from source%s (%s) with BuildKit %s (%s)...", what, kind, bk.Version, bk.Address)
	mode := build.ProgressAuto
	if e.Quiet {
		mode = build.ProgressQuiet
	}
	if name == "" {
		name = e.Paths.Images().Current
	}
	opts := build.Options{Context: bctx, NoCache: noCache, Name: name, ExtraCAFiles: cfg.BuildCAFiles, BuildArgs: args,
		Progress: e.Progress.BuildOutput(), ProgressMode: mode, Logf: e.Report.Verbosef}
	if name == e.Paths.Images().Current {
		opts.StateFile = e.Paths.StateFile()
	}
	res, err := build.Build(ctx, bk, rt.ImageStore(), opts)
	if err != nil {
		return nil, err
	}
	e.Report.Successf("Built %s (%s) in %s", res.Image.Name, res.Digest, res.Duration.Round(100*time.Millisecond))
	return res, nil
}

// PullOptions are a pull's: the source, the record name ("" or
// meta.CurrentImageName writes the image state; update's staging name
// does not) and more registry options (a platform).
type PullOptions struct {
	Source registry.Source
	Name   string
	Extra  []registry.Option
}

// Pull is the prebuilt path shared by `image pull`, start and update: it
// pulls the source into containerd, unpacks it into the configured
// snapshotter, reports progress and a summary line.
func (e *Env) Pull(ctx context.Context, cfg *meta.Config, rt *runtime.Client, o PullOptions) (*registry.Result, error) {
	ctx = rt.WithNamespace(ctx)
	opts, err := e.pullOptions(ctx, cfg, rt, o.Name)
	if err != nil {
		return nil, err
	}
	opts = append(opts, o.Extra...)
	if refs := strings.Split(o.Source.String(), ", "); len(refs) > 1 {
		e.Report.Infof("Pulling %s (falling back to %s)", refs[0], strings.Join(refs[1:], ", "))
	} else {
		e.Report.Infof("Pulling %s", refs[0])
	}
	sink := e.Progress.Pull()
	opts = append(opts, registry.WithProgress(sink.Event))
	res, err := registry.Pull(ctx, rt.ImageStore().PullStores(), o.Source, opts...)
	sink.Close(err == nil)
	if err != nil {
		return nil, err
	}
	e.reportPull(res)
	return res, nil
}

// pullOptions are the registry options of every pull: insecure
// registries, the streaming unpack, the direct content root, the
// signature check, the record and the hidden tuning knobs.
func (e *Env) pullOptions(ctx context.Context, cfg *meta.Config, rt *runtime.Client, name string) ([]registry.Option, error) {
	unpacker := rt.Unpacker()
	// Hidden knobs for `hack/bench pull` and performance work:
	// OCC_PULL_STREAM=0 leaves the unpack to containerd (the fallback path),
	// OCC_PULL_DIRECT_CONTENT=0 sends blob bytes through containerd's
	// content API even when its content root is on this host,
	// OCC_PULL_CONCURRENCY=N sets how many layers are fetched at once.
	unpacker.NoStream = os.Getenv("OCC_PULL_STREAM") == "0"
	opts := []registry.Option{
		registry.WithInsecureRegistries(cfg.InsecureRegistries),
		registry.WithHosts(registry.NewHosts(registry.DefaultCertsDirs(e.Paths.ConfigDir())...)),
		registry.WithUnpacker(streamingUnpacker{unpacker}),
	}
	if os.Getenv("OCC_PULL_DIRECT_CONTENT") != "0" && !unpacker.NoStream {
		if root, err := rt.LocalContentRoot(ctx); err == nil {
			opts = append(opts, registry.WithLocalContentRoot(root))
		} else {
			e.Report.Verbosef("Blobs go through containerd's content API: %v", err)
		}
	}
	if n, err := strconv.Atoi(os.Getenv("OCC_PULL_CONCURRENCY")); err == nil && n > 0 {
		opts = append(opts, registry.WithConcurrency(n))
	}
	policy, err := VerifyPolicy(cfg, e.Paths)
	if err != nil {
		return nil, err
	}
	opts = append(opts, registry.WithVerifier(&imageVerifier{report: e.Report, cfg: cfg, policy: policy}))
	if name == "" || name == e.Paths.Images().Current {
		opts = append(opts, registry.WithStateFile(e.Paths.StateFile()), registry.WithName(e.Paths.Images().Current))
	} else {
		opts = append(opts, registry.WithName(name))
	}
	tuning, err := pullTuning()
	if err != nil {
		return nil, err
	}
	return append(opts, tuning...), nil
}

// reportPull says what a pull did.
func (e *Env) reportPull(res *registry.Result) {
	p := res.Provenance
	if res.UpToDate {
		e.Report.Successf("%s is up to date (%s, %s)", p.Reference, p.Platform, ShortDigest(res.Image.Target.Digest))
		return
	}
	if res.InProcessUnpack {
		e.Report.Verbosef("Layers unpacked in-process while downloading")
	} else if res.UnpackNote != "" {
		e.Report.Verbosef("Layers unpacked by containerd (in-process unpack not possible: %s)", res.UnpackNote)
	}
	secs := res.Duration.Seconds()
	rate := ""
	if secs > 0 && res.FetchedBytes > 0 {
		rate = fmt.Sprintf(", %s/s", HumanBytes(int64(float64(res.FetchedBytes)/secs)))
	}
	e.Report.Successf("Pulled %s (%s, %s) as %s: fetched %s, reused %s in %.1fs%s",
		p.Reference, p.Platform, ShortDigest(res.Image.Target.Digest), res.Name,
		HumanBytes(res.FetchedBytes), HumanBytes(res.ReusedBytes), secs, rate)
}

// imageVerifier checks a pulled image's signature under the config's
// policy (image_verify and the keys beside it) with pkg/trust.
type imageVerifier struct {
	report Reporter
	cfg    *meta.Config
	policy trust.Policy
}

// VerifyPolicy is the trust policy the config describes: a public key
// (image_verify_key), or the keyless issuer and identity against
// image_verify_trusted_root, else the root `occ image trust-root --refresh`
// fetched, else the one embedded in occ.
func VerifyPolicy(cfg *meta.Config, paths meta.Paths) (trust.Policy, error) {
	return trust.PolicyFromConfig(cfg, paths.TrustedRootFile())
}

// Requires says whether images from repo must carry a valid signature.
func (v *imageVerifier) Requires(repo string) bool {
	return v.cfg.VerifyMode(repo) == meta.VerifyRequire
}

func (v *imageVerifier) VerifyImage(ctx context.Context, req registry.VerifyRequest) (*meta.Verification, error) {
	mode := v.cfg.VerifyMode(req.Repository)
	if mode == meta.VerifyOff {
		v.report.Verbosef("Signature of %s not checked (image_verify off)", req.Digest)
		return nil, nil
	}
	start := time.Now()
	res, err := v.policy.Check(ctx, mode, req.Digest, req.Remote...)
	v.report.Verbosef("Signature check of %s (%s) took %s", req.Digest, mode, time.Since(start).Round(100*time.Microsecond))
	return res, err
}

// streamingUnpacker adapts runtime's ImageUnpacker to
// registry.StreamUnpacker (the two packages do not import each other).
type streamingUnpacker struct{ *runtime.ImageUnpacker }

func (s streamingUnpacker) StartStream(ctx context.Context, config ocispec.Descriptor, layers []ocispec.Descriptor, diffIDs []digest.Digest) (registry.LayerStream, error) {
	ls, err := s.ImageUnpacker.StartStream(ctx, config, layers, diffIDs)
	if err != nil {
		return nil, err
	}
	return ls, nil
}

// ShortDigest is a digest cut to "sha256:" and 12 hex digits.
func ShortDigest(d digest.Digest) string {
	s := d.String()
	if len(s) > 19 {
		return s[:19]
	}
	return s
}

// HumanBytes prints a size with one decimal and binary units (1.5 GiB).
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// ImagePull is `occ image pull`: the configured sandbox image, or ref,
// for platform ("" is the host's), under occ's lock.
func (e *Env) ImagePull(ctx context.Context, ref, platform string) (*registry.Result, error) {
	cfg, err := e.LoadConfig()
	if err != nil {
		return nil, err
	}
	var src registry.Source
	if ref != "" {
		src, err = registry.ParseSource(ref)
	} else {
		src, err = registry.SourceFromConfig(cfg)
	}
	if err != nil {
		return nil, err
	}
	var extra []registry.Option
	if platform != "" {
		p, err := registry.ParsePlatform(platform)
		if err != nil {
			return nil, err
		}
		extra = append(extra, registry.WithPlatform(p))
	}
	lock, err := e.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	rt, err := e.dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	e.tidyAfterKilled(ctx, rt)
	return e.Pull(ctx, cfg, rt, PullOptions{Source: src, Extra: extra})
}

// ImageList lists occ's images in containerd with their provenance, and
// the namespace they are in.
func (e *Env) ImageList(ctx context.Context) ([]registry.LocalImage, string, error) {
	cfg, rt, err := e.connect(ctx)
	if err != nil {
		return nil, "", err
	}
	defer rt.Close()
	st := rt.ImageStore().PullStores()
	imgs, err := registry.List(rt.WithNamespace(ctx), st.Content, st.Images)
	return imgs, cfg.ContainerdNamespace, err
}

// ImageInspect is one image's record, provenance and signature check
// ("" is the current sandbox image).
func (e *Env) ImageInspect(ctx context.Context, name string) (registry.LocalImage, error) {
	_, rt, err := e.connect(ctx)
	if err != nil {
		return registry.LocalImage{}, err
	}
	defer rt.Close()
	st := rt.ImageStore().PullStores()
	if name == "" {
		name = e.Paths.Images().Current
	}
	return registry.Inspect(rt.WithNamespace(ctx), st.Content, st.Images, name)
}

// connect loads the config and dials its containerd; the caller closes
// the client.
func (e *Env) connect(ctx context.Context) (*meta.Config, *runtime.Client, error) {
	cfg, err := e.LoadConfig()
	if err != nil {
		return nil, nil, err
	}
	rt, err := e.dial(ctx, cfg)
	return cfg, rt, err
}
