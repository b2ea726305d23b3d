package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
	"github.com/opencode-cloud/occ/pkg/runtime"
	"github.com/opencode-cloud/occ/pkg/trust"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// ImagePullCmd pulls the configured sandbox image (or REF) into containerd.
type ImagePullCmd struct {
	Platform string `placeholder:"OS/ARCH[/VARIANT]" help:"Platform to pull from a multi-platform image (default: linux/<host arch>)."`
	Ref      string `arg:"" optional:"" placeholder:"REF" help:"Image to pull instead of the configured one: REPOSITORY[:TAG] or REPOSITORY@sha256:DIGEST."`
}

func (c *ImagePullCmd) Run(ctx context.Context, app *App) error {
	cfg, _, err := app.LoadConfig()
	if err != nil {
		return err
	}
	var src registry.Source
	if c.Ref != "" {
		src, err = registry.ParseSource(c.Ref)
	} else {
		src, err = registry.SourceFromConfig(cfg)
	}
	if err != nil {
		return err
	}
	var opts []registry.Option
	if c.Platform != "" {
		p, err := registry.ParsePlatform(c.Platform)
		if err != nil {
			return err
		}
		opts = append(opts, registry.WithPlatform(p))
	}
	lock, err := app.Lock(ctx)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	client, err := runtime.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	app.tidyAfterKilled(ctx, client)
	_, err = pullImage(ctx, app, cfg, client, src, "", opts...)
	return err
}

// pullImage is the prebuilt path shared by `image pull`, `start` and
// `update`: it pulls src into containerd (by default as
// meta.CurrentImageName, with the image state written once the record
// exists), unpacks it into the configured snapshotter, shows progress on
// stderr and prints a summary line. A name other than "" or
// meta.CurrentImageName (update's staging pull) leaves the state file
// alone.
func pullImage(ctx context.Context, app *App, cfg *meta.Config, client *runtime.Client, src registry.Source, name string, opts ...registry.Option) (*registry.Result, error) {
	ctx = client.WithNamespace(ctx)
	pp := newPullProgress(app)
	unpacker := client.Unpacker()
	// Hidden knobs for `hack/bench pull` and performance work:
	// OCC_PULL_STREAM=0 leaves the unpack to containerd (the fallback path),
	// OCC_PULL_DIRECT_CONTENT=0 sends blob bytes through containerd's
	// content API even when its content root is on this host,
	// OCC_PULL_CONCURRENCY=N sets how many layers are fetched at once.
	unpacker.NoStream = os.Getenv("OCC_PULL_STREAM") == "0"
	base := []registry.Option{
		registry.WithInsecureRegistries(cfg.InsecureRegistries),
		registry.WithUnpacker(streamingUnpacker{unpacker}),
		registry.WithProgress(pp.event),
	}
	if os.Getenv("OCC_PULL_DIRECT_CONTENT") != "0" && !unpacker.NoStream {
		if root, err := client.LocalContentRoot(ctx); err == nil {
			base = append(base, registry.WithLocalContentRoot(root))
		} else {
			app.UI.Verbosef("Blobs go through containerd's content API: %v", err)
		}
	}
	if n, err := strconv.Atoi(os.Getenv("OCC_PULL_CONCURRENCY")); err == nil && n > 0 {
		base = append(base, registry.WithConcurrency(n))
	}
	verifier, err := newImageVerifier(app, cfg)
	if err != nil {
		return nil, err
	}
	base = append(base, registry.WithVerifier(verifier))
	if name == "" || name == meta.CurrentImageName {
		base = append(base, registry.WithStateFile(app.Paths.StateFile()))
	} else {
		base = append(base, registry.WithName(name))
	}
	tuning, err := pullTuning()
	if err != nil {
		return nil, err
	}
	all := append(append(base, tuning...), opts...)
	if refs := strings.Split(src.String(), ", "); len(refs) > 1 {
		app.UI.Infof("Pulling %s (falling back to %s)", refs[0], strings.Join(refs[1:], ", "))
	} else {
		app.UI.Infof("Pulling %s", refs[0])
	}
	stores := registry.Stores{Content: client.ContentStore(), Images: client.ImageService(), Leases: client.LeasesService()}
	res, err := registry.Pull(ctx, stores, src, all...)
	pp.close(err == nil)
	if err != nil {
		return nil, err
	}
	p := res.Provenance
	if res.UpToDate {
		app.UI.Successf("%s is up to date (%s, %s)", p.Reference, p.Platform, shortDigest(res.Image.Target.Digest))
		return res, nil
	}
	if res.InProcessUnpack {
		app.UI.Verbosef("Layers unpacked in-process while downloading")
	} else if res.UnpackNote != "" {
		app.UI.Verbosef("Layers unpacked by containerd (in-process unpack not possible: %s)", res.UnpackNote)
	}
	secs := res.Duration.Seconds()
	rate := ""
	if secs > 0 && res.FetchedBytes > 0 {
		rate = fmt.Sprintf(", %s/s", humanBytes(int64(float64(res.FetchedBytes)/secs)))
	}
	app.UI.Successf("Pulled %s (%s, %s) as %s: fetched %s, reused %s in %.1fs%s",
		p.Reference, p.Platform, shortDigest(res.Image.Target.Digest), res.Name,
		humanBytes(res.FetchedBytes), humanBytes(res.ReusedBytes), secs, rate)
	return res, nil
}

// imageVerifier checks a pulled image's signature under the config's
// policy (image_verify and the keys beside it) with pkg/trust.
type imageVerifier struct {
	app    *App
	cfg    *meta.Config
	policy trust.Policy
}

func newImageVerifier(app *App, cfg *meta.Config) (*imageVerifier, error) {
	p, err := verifyPolicy(cfg, app.Paths)
	if err != nil {
		return nil, err
	}
	return &imageVerifier{app: app, cfg: cfg, policy: p}, nil
}

// verifyPolicy is the trust policy the config describes: a public key
// (image_verify_key), or the keyless issuer and identity against
// image_verify_trusted_root, else the root `occ image trust-root --refresh`
// fetched, else the one embedded in occ.
func verifyPolicy(cfg *meta.Config, paths meta.Paths) (trust.Policy, error) {
	p := trust.Policy{Issuer: cfg.ImageVerifyIssuer, Identity: cfg.ImageVerifyIdentity}
	if cfg.ImageVerify == meta.VerifyOff {
		return p, nil
	}
	if cfg.ImageVerifyKey != "" {
		k, err := trust.LoadPublicKey(cfg.ImageVerifyKey)
		if err != nil {
			return p, fmt.Errorf("image_verify_key: %w (fix the file, or `occ config set image_verify_key \"\"` to verify by identity)", err)
		}
		p.PublicKey = k
	} else if cfg.ImageVerifyRoot != "" {
		tr, err := trust.LoadTrustedRoot(cfg.ImageVerifyRoot)
		if err != nil {
			return p, fmt.Errorf("image_verify_trusted_root: %w (fix the file, or `occ config set image_verify_trusted_root \"\"` to use the root embedded in occ)", err)
		}
		p.TrustedMaterial = tr
	} else if f := paths.TrustedRootFile(); fileExists(f) {
		tr, err := trust.LoadTrustedRoot(f)
		if err != nil {
			return p, fmt.Errorf("%w (refresh it with `occ image trust-root --refresh`, or delete it to use the root embedded in occ)", err)
		}
		p.TrustedMaterial = tr
	}
	return p, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Requires says whether images from repo must carry a valid signature.
func (v *imageVerifier) Requires(repo string) bool {
	return v.cfg.VerifyMode(repo) == meta.VerifyRequire
}

func (v *imageVerifier) VerifyImage(ctx context.Context, req registry.VerifyRequest) (*meta.Verification, error) {
	mode := v.cfg.VerifyMode(req.Repository)
	if mode == meta.VerifyOff {
		v.app.UI.Verbosef("Signature of %s not checked (image_verify off)", req.Digest)
		return nil, nil
	}
	start := time.Now()
	res, err := v.policy.Check(ctx, mode, req.Digest, req.Remote...)
	v.app.UI.Verbosef("Signature check of %s (%s) took %s", req.Digest, mode, time.Since(start).Round(100*time.Microsecond))
	return res, err
}

// describeVerification is one line about a verified signature.
func describeVerification(v *meta.Verification) string {
	var b strings.Builder
	switch v.Method {
	case meta.VerifyKey:
		fmt.Fprintf(&b, "key %s", shortID(v.Identity))
	default:
		fmt.Fprintf(&b, "%s (issuer %s)", v.Identity, v.Issuer)
	}
	if !v.SignedAt.IsZero() {
		fmt.Fprintf(&b, ", signed %s", v.SignedAt.UTC().Format(time.RFC3339))
	}
	if v.BundleDigest != "" {
		fmt.Fprintf(&b, ", bundle %s", shortDigest(digest.Digest(v.BundleDigest)))
	}
	return b.String()
}

func shortID(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
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

func shortDigest(d digest.Digest) string {
	s := d.String()
	if len(s) > 19 {
		return s[:19]
	}
	return s
}

func humanBytes(n int64) string {
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

// pullProgress renders registry events: per-layer byte bars and a total
// with its speed when stderr is a terminal, a plain line every few seconds
// when not, nothing with -q (warnings still show).
type pullProgress struct {
	app *App
	tty bool

	mu       sync.Mutex
	p        *mpb.Progress
	bars     map[digest.Digest]*mpb.Bar
	total    *mpb.Bar
	size     int64 // bytes of blobs to fetch
	known    bool  // size came from the manifest
	offsets  map[digest.Digest]int64
	done     int64
	started  time.Time
	lastLine time.Time
}

// plainInterval is how often a non-terminal pull prints a progress line.
const plainInterval = 5 * time.Second

func newPullProgress(app *App) *pullProgress {
	return &pullProgress{app: app, tty: !app.UI.Quiet && isTerminal(app.UI.Err),
		bars: map[digest.Digest]*mpb.Bar{}, offsets: map[digest.Digest]int64{}, started: time.Now(), lastLine: time.Now()}
}

// line prints a message above the bars (or plainly).
func (pp *pullProgress) line(w func(string, ...any), format string, a ...any) {
	if pp.p != nil {
		// mpb prints writes above the running bars.
		w = func(f string, a ...any) { fmt.Fprintf(pp.p, f+"\n", a...) }
	}
	w(format, a...)
}

func (pp *pullProgress) event(e registry.Event) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	ui := pp.app.UI
	switch e.Kind {
	case registry.EventResolved:
		ui.Verbosef("%s is %s; using %s (%s)", e.Reference, e.Digest, e.Manifest, e.Platform)
	case registry.EventRetry:
		what := "request"
		if e.Digest != "" {
			what = "blob " + shortDigest(e.Digest)
		}
		pp.line(ui.Infof, "Retrying %s in %s (attempt %d): %v", what, e.Wait, e.Attempt+1, e.Err)
	case registry.EventVerified:
		if v := e.Verification; v != nil && v.Verified {
			pp.line(ui.Infof, "Signature verified: %s", describeVerification(v))
		} else if v != nil {
			pp.line(ui.Warnf, "%s is NOT verified (image_verify %s lets it through): %s", e.Reference, v.Policy, v.Problem)
		}
	case registry.EventFallback:
		pp.line(ui.Warnf, "%s failed: %v; trying %s", e.Reference, e.Err, e.Next)
	case registry.EventManifest:
		pp.size, pp.known = e.Size, true
	case registry.EventBlobStart:
		if !pp.known {
			pp.size += e.Size
		}
		if pp.tty {
			pp.startBars()
			pp.total.SetTotal(pp.size, false)
			pp.bars[e.Digest] = pp.p.AddBar(e.Size,
				mpb.BarRemoveOnComplete(),
				mpb.PrependDecorators(decor.Name(shortDigest(e.Digest)[7:], decor.WCSyncSpaceR)),
				mpb.AppendDecorators(decor.Counters(decor.SizeB1024(0), "% .1f / % .1f")))
		}
	case registry.EventBlobProgress:
		delta := e.Offset - pp.offsets[e.Digest]
		if delta < 0 { // restarted from 0
			delta = e.Offset
		}
		pp.offsets[e.Digest] = e.Offset
		pp.done += delta
		if b := pp.bars[e.Digest]; b != nil {
			b.SetCurrent(e.Offset)
			pp.total.IncrInt64(delta)
		} else if !pp.tty && time.Since(pp.lastLine) >= plainInterval {
			pp.lastLine = time.Now()
			rate := float64(pp.done) / time.Since(pp.started).Seconds()
			ui.Infof("Downloaded %s of %s (%s/s)", humanBytes(pp.done), humanBytes(pp.size), humanBytes(int64(rate)))
		}
	case registry.EventBlobDone:
		b := pp.bars[e.Digest]
		if e.Reused {
			pp.size -= e.Size
			if b != nil {
				b.Abort(true)
				pp.total.SetTotal(pp.size, false)
			}
		} else if b != nil {
			b.SetTotal(e.Size, true)
		}
		if !pp.tty {
			verb := "fetched"
			if e.Reused {
				verb = "already present"
			}
			ui.Verbosef("blob %s %s (%s)", shortDigest(e.Digest), verb, humanBytes(e.Size))
		}
	}
}

func (pp *pullProgress) startBars() {
	if pp.p != nil {
		return
	}
	pp.p = mpb.New(mpb.WithOutput(pp.app.UI.Err), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))
	pp.total = pp.p.AddBar(0, mpb.BarPriority(1<<30),
		mpb.PrependDecorators(decor.Name("total", decor.WCSyncSpaceR)),
		mpb.AppendDecorators(
			decor.Counters(decor.SizeB1024(0), "% .1f / % .1f"),
			decor.Name("  "),
			decor.AverageSpeed(decor.SizeB1024(0), "% .1f")))
}

func (pp *pullProgress) close(ok bool) {
	pp.mu.Lock()
	p, total := pp.p, pp.total
	bars := pp.bars
	pp.mu.Unlock()
	if p == nil {
		return
	}
	for _, b := range bars {
		if !b.Completed() {
			b.Abort(true)
		}
	}
	if ok {
		total.SetTotal(total.Current(), true)
	} else {
		total.Abort(false)
	}
	p.Wait()
}
