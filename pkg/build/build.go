package build

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// SourceURL is the org.opencontainers.image.source annotation of built images.
var SourceURL = "https://github.com/opencode-cloud/occ"

// ImageStore is what a build needs from containerd. pkg/runtime's
// (*Client).ImageStore() implements it.
type ImageStore interface {
	// Namespace is the containerd namespace images are recorded in.
	Namespace() string
	// Snapshotter is the snapshotter images are unpacked into.
	Snapshotter() string
	// ServerUUID identifies the containerd daemon, to tell whether a
	// BuildKit containerd worker writes into the same one.
	ServerUUID(ctx context.Context) (string, error)
	// BeginIngest returns the content store, bound to the namespace, with
	// everything written through it held by a lease until release.
	BeginIngest(ctx context.Context) (cs content.Store, release func(context.Context) error, err error)
	// LabelContent labels target's content so that containerd's GC keeps
	// all of it once a record points at target.
	LabelContent(ctx context.Context, target ocispec.Descriptor) error
	// ImportOCIArchive streams an OCI image-layout tar into the content
	// store and records the image the archive names under name.
	ImportOCIArchive(ctx context.Context, name string, r io.Reader) (images.Image, error)
	// Image returns the record called name.
	Image(ctx context.Context, name string) (images.Image, error)
	// Unpack unpacks the image target into the snapshotter (a no-op when
	// it already is).
	Unpack(ctx context.Context, target ocispec.Descriptor) error
	// ImageConfig reads the image config of the image target.
	ImageConfig(ctx context.Context, target ocispec.Descriptor) (ocispec.Image, error)
	// SetImage points the record name at target with exactly labels,
	// creating or updating it in one step.
	SetImage(ctx context.Context, name string, target ocispec.Descriptor, labels map[string]string) (images.Image, error)
	// ListImages lists the records matching containerd filters.
	ListImages(ctx context.Context, filters ...string) ([]images.Image, error)
	// DeleteImage deletes a record; a missing one is not an error.
	DeleteImage(ctx context.Context, name string) error
}

// Options is one build.
type Options struct {
	// Context is the build context; nil builds the embedded sandbox context.
	Context *Context
	// NoCache rebuilds every step (BuildKit's no-cache).
	NoCache bool
	// BuildArgs are the user's --build-arg values (ParseBuildArgs).
	BuildArgs map[string]string
	// BaseImage overrides the BASE_IMAGE build argument.
	BaseImage string
	// SourceDateEpoch, when set, makes timestamps reproducible: it is
	// passed as SOURCE_DATE_EPOCH and layer timestamps are rewritten.
	// Default: $SOURCE_DATE_EPOCH when that is set.
	SourceDateEpoch *int64
	// CacheImports / CacheExports: ParseCacheImports / ParseCacheExports.
	CacheImports, CacheExports []client.CacheOptionsEntry
	// Name is the record the image lands in (default meta.CurrentImageName).
	Name string
	// OCIArchive makes a build on an OCI worker stream a tarball into
	// containerd's importer instead of writing the blobs straight into
	// containerd's content store (slower: every blob crosses twice).
	OCIArchive bool
	// StateFile, when set, is the image-state file written after the
	// record exists (the previous entry in it is kept).
	StateFile string

	// Progress receives BuildKit's progress display; nil shows nothing.
	Progress io.Writer
	// ProgressMode is ProgressAuto (default), ProgressTTY, ProgressPlain,
	// ProgressQuiet or ProgressJSON.
	ProgressMode string
	// OnStatus, when set, sees every status update (tests, benchmarks).
	OnStatus func(*client.SolveStatus)
	// ExtraCAFiles are PEM files of CA certificates passed to the build as
	// the extra_ca secret (the config's build_ca_files), for builds behind
	// a TLS-intercepting proxy. Empty: the certificates under SystemCADir.
	ExtraCAFiles []string
	// SystemCADir is where extra CA certificates are looked for when
	// ExtraCAFiles is empty (default meta.SystemExtraCADir; NoSystemCA
	// looks nowhere).
	SystemCADir string
	// Auth answers BuildKit's requests for registry credentials (and the
	// TLS settings of its token fetches) in the build session: the
	// caller's one credential source, e.g. authprovider.NewDockerAuthProvider
	// over the keychain pulls use. nil: the build is anonymous.
	Auth session.Attachable
	// Logf, when set, receives occ's own notes about the build (which path
	// it takes, and why).
	Logf func(format string, a ...any)
}

// NoSystemCA as Options.SystemCADir passes no system CA certificates.
const NoSystemCA = "-"

// Landing is how a built image gets into containerd.
type Landing string

const (
	// LandDirect: a containerd worker in occ's namespace exports the image
	// record and unpacks it itself.
	LandDirect Landing = "direct"
	// LandContentStore: BuildKit's oci exporter writes the blobs into
	// containerd's content store over the session (no tarball; blobs
	// containerd has are skipped), then occ records and unpacks it.
	LandContentStore Landing = "content-store"
	// LandArchive: the oci exporter streams a tarball into containerd's
	// importer (Options.OCIArchive).
	LandArchive Landing = "oci-archive"
)

// Result is a finished build.
type Result struct {
	// Image is the record, under Options.Name, with the provenance labels.
	Image images.Image
	// Digest is the digest BuildKit reported (containerimage.digest); the
	// record's target has the same digest.
	Digest     digest.Digest
	Provenance meta.Provenance
	// Landing is how the image got into containerd.
	Landing Landing
	// Direct is true when a containerd worker exported straight into
	// occ's namespace (Landing == LandDirect).
	Direct   bool
	Worker   WorkerInfo
	Steps    []Step
	Warnings []client.VertexWarning
	Duration time.Duration
	// ExtraCA is what was passed as the extra_ca secret (nil: nothing).
	ExtraCA *ExtraCA
}

// Build builds the image with BuildKit and records it in containerd. The
// image is exported under a temporary name and only at the end, once its
// digest is checked and it is unpacked, does Options.Name point at it, in
// one update with the provenance labels; then the state file is written. A
// build that fails or is cancelled leaves the previous record and state
// untouched and removes the temporary record.
func Build(ctx context.Context, d *Daemon, store ImageStore, opts Options) (*Result, error) {
	start := time.Now()
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	plan, err := planBuild(opts, start, logf)
	if err != nil {
		return nil, err
	}

	direct, why := canExportDirect(ctx, d.Worker, store)
	logf("BuildKit %s at %s, %s worker: %s", d.Version, d.Address, d.Worker.Kind, why)

	// Leftover temporary records are cleared while BuildKit works.
	var sweep sync.WaitGroup
	sweep.Go(func() { sweepStale(ctx, store, logf) })
	defer sweep.Wait()
	tmpName := tempPrefix + randomID()
	land := newLander(direct, opts.OCIArchive, store, d.Worker, tmpName, logf)
	export, err := land.export(ctx, exportAttrs(tmpName, plan.created, plan.epoch))
	if err != nil {
		return nil, err
	}
	defer land.cleanup(ctx)

	solveOpt := client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: frontendAttrs(opts, plan.epoch),
		LocalMounts:   map[string]fsutil.FS{"context": plan.bctx.FS, "dockerfile": plan.bctx.FS},
		Exports:       []client.ExportEntry{export},
		CacheImports:  opts.CacheImports,
		CacheExports:  opts.CacheExports,
		Session:       plan.attachables,
	}
	t := newTracker()
	solveStart := time.Now()
	resp, err := solve(ctx, d, solveOpt, t, opts, land)
	if err != nil {
		return nil, err
	}
	solveTime := time.Since(solveStart)
	reported, target, err := landed(ctx, store, land, resp.ExporterResponse)
	if err != nil {
		return nil, err
	}
	prov, err := provenance(ctx, d, store, target, reported, plan.ctxDigest, opts.NoCache)
	if err != nil {
		return nil, err
	}
	img, err := store.SetImage(ctx, plan.name, target, prov.Labels())
	if err != nil {
		return nil, fmt.Errorf("record the built image as %s: %w", plan.name, err)
	}
	logf("BuildKit took %s; before it %s, after it %s (landing: %s)", solveTime.Round(time.Millisecond),
		solveStart.Sub(start).Round(time.Millisecond), time.Since(solveStart.Add(solveTime)).Round(time.Millisecond), land.landing())

	if opts.StateFile != "" {
		if err := saveState(opts.StateFile, prov); err != nil {
			return nil, fmt.Errorf("the image is recorded as %s, but %w", plan.name, err)
		}
	}
	return &Result{
		Image: img, Digest: reported, Provenance: prov, Landing: land.landing(), Direct: direct, Worker: d.Worker,
		Steps: t.Steps(), Warnings: t.warnings, Duration: time.Since(start), ExtraCA: plan.extraCA,
	}, nil
}

// buildPlan is what a build is made of before BuildKit is asked.
type buildPlan struct {
	name        string // the record the image lands in
	bctx        *Context
	ctxDigest   digest.Digest
	extraCA     *ExtraCA
	attachables []session.Attachable
	epoch       *int64    // SOURCE_DATE_EPOCH, nil when unset
	created     time.Time // the image's created annotation
}

// planBuild checks that this occ can stamp a version on the image and
// gathers the build's inputs from opts.
func planBuild(opts Options, start time.Time, logf func(string, ...any)) (*buildPlan, error) {
	if meta.Version == "" || meta.Version == "dev" {
		return nil, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("this occ has no release version (%q), so the image's %s label would be meaningless; build occ with -ldflags -X github.com/opencode-cloud/occ/pkg/meta.Version=…", meta.Version, meta.ImageVersionLabel))
	}
	p := &buildPlan{name: opts.Name, bctx: opts.Context, created: start.UTC()}
	if p.name == "" {
		p.name = meta.CurrentImageName
	}
	if p.bctx == nil {
		p.bctx = EmbeddedContext()
	}
	var err error
	if p.ctxDigest, err = p.bctx.Digest(); err != nil {
		return nil, err
	}
	if p.extraCA, p.attachables, err = sessionAttachables(opts, logf); err != nil {
		return nil, err
	}
	if p.epoch, err = sourceDateEpoch(opts); err != nil {
		return nil, err
	}
	if p.epoch != nil {
		p.created = time.Unix(*p.epoch, 0).UTC()
	}
	return p, nil
}

// sessionAttachables are the build session's attachables: registry
// credentials, and the extra CA certificates as a secret when there are
// any (Options.ExtraCAFiles, else those under Options.SystemCADir).
func sessionAttachables(opts Options, logf func(string, ...any)) (*ExtraCA, []session.Attachable, error) {
	caDir := opts.SystemCADir
	switch caDir {
	case "":
		caDir = meta.SystemExtraCADir
	case NoSystemCA:
		caDir = ""
	}
	extraCA, err := LoadExtraCA(opts.ExtraCAFiles, caDir)
	if err != nil {
		return nil, nil, err
	}
	var attachables []session.Attachable
	if opts.Auth != nil {
		attachables = append(attachables, opts.Auth)
	}
	if sec, err := extraCA.secrets(); err != nil {
		return nil, nil, err
	} else if sec != nil {
		attachables = append(attachables, sec)
		logf("passing %d extra CA certificate(s) from %s to the build as secret %s (not stored in the image)",
			extraCA.Count, strings.Join(extraCA.Files, ", "), ExtraCASecretID)
	}
	if extraCA != nil && len(extraCA.Skipped) > 0 {
		logf("no CA certificate in %s: skipped", strings.Join(extraCA.Skipped, ", "))
	}
	return extraCA, attachables, nil
}

// sourceDateEpoch is Options.SourceDateEpoch, else the SOURCE_DATE_EPOCH
// build argument, else $SOURCE_DATE_EPOCH; nil when none is set.
func sourceDateEpoch(opts Options) (*int64, error) {
	if opts.SourceDateEpoch != nil {
		return opts.SourceDateEpoch, nil
	}
	if v, ok := opts.BuildArgs[ArgSourceDateEpoch]; ok {
		n, err := parseEpoch(v)
		if err != nil {
			return nil, err
		}
		return &n, nil
	}
	if v := os.Getenv(ArgSourceDateEpoch); v != "" {
		n, err := parseEpoch(v)
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", ArgSourceDateEpoch, err)
		}
		return &n, nil
	}
	return nil, nil
}

// frontendAttrs are the Dockerfile frontend's attributes: the user's
// build arguments, then occ's (version, base image, epoch), and no-cache.
func frontendAttrs(opts Options, epoch *int64) map[string]string {
	attrs := map[string]string{"filename": "Dockerfile"}
	for k, v := range opts.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	attrs["build-arg:"+ArgVersion] = meta.Version
	if opts.BaseImage != "" {
		attrs["build-arg:"+ArgBaseImage] = opts.BaseImage
	}
	if epoch != nil {
		attrs["build-arg:"+ArgSourceDateEpoch] = strconv.FormatInt(*epoch, 10)
	}
	if opts.NoCache {
		attrs["no-cache"] = ""
	}
	return attrs
}

// exportAttrs are the exporter's attributes every landing shares: the
// temporary name and the OCI annotations.
func exportAttrs(tmpName string, created time.Time, epoch *int64) map[string]string {
	attrs := map[string]string{
		"name": tmpName,
		"annotation." + ocispec.AnnotationCreated:  created.Format(time.RFC3339),
		"annotation." + ocispec.AnnotationVersion:  meta.Version,
		"annotation." + ocispec.AnnotationRevision: meta.Commit,
		"annotation." + ocispec.AnnotationSource:   SourceURL,
	}
	if epoch != nil {
		attrs["rewrite-timestamp"] = "true"
	}
	return attrs
}

// solve runs the solve with its progress display and tells the landing
// how it ended.
func solve(ctx context.Context, d *Daemon, solveOpt client.SolveOpt, t *tracker, opts Options, land lander) (*client.SolveResponse, error) {
	ch := make(chan *client.SolveStatus)
	waitProgress, err := runProgress(ctx, ch, t, opts.Progress, opts.ProgressMode, opts.OnStatus)
	if err != nil {
		_ = land.solved(ctx, err)
		return nil, err
	}
	resp, solveErr := d.Solve(ctx, nil, solveOpt, ch) // closes ch
	_ = waitProgress()
	if err := land.solved(ctx, solveErr); err != nil {
		return nil, err
	}
	if solveErr != nil {
		if ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		return nil, solveFailure(solveErr, t)
	}
	return resp, nil
}

// landed checks that the image that landed is the one BuildKit reported
// and unpacks it if the landing has not.
func landed(ctx context.Context, store ImageStore, land lander, resp map[string]string) (digest.Digest, ocispec.Descriptor, error) {
	reported, err := digest.Parse(resp[exptypes.ExporterImageDigestKey])
	if err != nil {
		return "", ocispec.Descriptor{}, fmt.Errorf("BuildKit reported no usable image digest (%q): %w", resp[exptypes.ExporterImageDigestKey], err)
	}
	target, err := land.target(ctx, resp, reported)
	if err != nil {
		return "", ocispec.Descriptor{}, err
	}
	if target.Digest != reported {
		return "", ocispec.Descriptor{}, errdefs.ErrDataLoss.WithMessage(fmt.Sprintf("the image that landed in containerd (%s) is not the one BuildKit built (%s); nothing was changed, build again", target.Digest, reported))
	}
	if !land.unpacked() {
		if err := store.Unpack(ctx, target); err != nil {
			if ctx.Err() != nil {
				return "", ocispec.Descriptor{}, canceled(ctx)
			}
			return "", ocispec.Descriptor{}, fmt.Errorf("unpack the built image into snapshotter %s: %w", store.Snapshotter(), err)
		}
	}
	return reported, target, nil
}

// provenance reads the built image's config, checks its version label
// and returns the provenance its record gets.
func provenance(ctx context.Context, d *Daemon, store ImageStore, target ocispec.Descriptor, reported, ctxDigest digest.Digest, noCache bool) (meta.Provenance, error) {
	cfg, err := store.ImageConfig(ctx, target)
	if err != nil {
		if ctx.Err() != nil {
			return meta.Provenance{}, canceled(ctx)
		}
		return meta.Provenance{}, fmt.Errorf("read the built image's config: %w", err)
	}
	if got := cfg.Config.Labels[meta.ImageVersionLabel]; got != meta.Version {
		return meta.Provenance{}, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("the built image's %s label is %q, not this occ's version %q: the Dockerfile must declare `ARG %s` and `LABEL %s=\"${%s}\"` (nothing was changed)",
			meta.ImageVersionLabel, got, meta.Version, ArgVersion, meta.ImageVersionLabel, ArgVersion))
	}
	worker := WorkerOCI
	if d.Worker.Kind == WorkerContainerd {
		worker = WorkerContainerd
	}
	if ctx.Err() != nil {
		return meta.Provenance{}, canceled(ctx)
	}
	return meta.Provenance{
		Source:         meta.SourceBuild,
		ManifestDigest: reported.String(),
		Platform:       platforms.Format(platforms.Normalize(ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})),
		AcquiredAt:     time.Now().UTC(),
		ImageVersion:   cfg.Config.Labels[meta.ImageVersionLabel],
		Build: &meta.BuildInfo{
			BuildkitVersion: d.Version,
			Worker:          worker,
			ContextDigest:   ctxDigest.String(),
			NoCache:         noCache,
		},
	}, nil
}

// exportedDescriptor decodes the exporter's containerimage.descriptor.
func exportedDescriptor(resp map[string]string) (ocispec.Descriptor, error) {
	var desc ocispec.Descriptor
	raw, err := base64.StdEncoding.DecodeString(resp[exptypes.ExporterImageDescriptorKey])
	if err == nil {
		err = json.Unmarshal(raw, &desc)
	}
	if err == nil && desc.Digest == "" {
		err = errors.New("empty descriptor")
	}
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("BuildKit reported no usable image descriptor: %w", err)
	}
	return desc, nil
}

// tempPrefix names the records a build lands in before it is promoted.
const tempPrefix = meta.LocalImageRepo + ":build-"

// StaleAfter is how old a temporary build record must be before a later
// build removes it (one left behind by an occ that was killed).
var StaleAfter = 10 * time.Minute

// sweepStale removes temporary records that builds killed half-way left
// behind, so that their content can be collected. Best effort.
func sweepStale(ctx context.Context, store ImageStore, logf func(string, ...any)) {
	imgs, err := store.ListImages(ctx, `name~="^`+tempPrefix+`"`)
	if err != nil {
		logf("could not list leftover build records: %v", err)
		return
	}
	for _, img := range imgs {
		if !strings.HasPrefix(img.Name, tempPrefix) || time.Since(img.UpdatedAt) < StaleAfter {
			continue
		}
		if err := store.DeleteImage(ctx, img.Name); err != nil {
			logf("could not remove the leftover build record %s: %v", img.Name, err)
		} else {
			logf("removed the leftover build record %s", img.Name)
		}
	}
}

// canExportDirect decides whether BuildKit's image exporter can write into
// occ's namespace: a containerd worker, in the same namespace, on the same
// containerd daemon.
func canExportDirect(ctx context.Context, w WorkerInfo, store ImageStore) (bool, string) {
	if w.Kind != WorkerContainerd {
		return false, "BuildKit writes the image into containerd's content store over its session and occ records it"
	}
	if w.Namespace != store.Namespace() {
		return false, fmt.Sprintf("its namespace is %q, not occ's %q, so BuildKit writes the image into containerd's content store over its session and occ records it (run buildkitd with --containerd-worker-namespace=%s to export straight into it)", w.Namespace, store.Namespace(), store.Namespace())
	}
	uuid, err := store.ServerUUID(ctx)
	if err != nil || w.ContainerdUUID == "" || uuid != w.ContainerdUUID {
		return false, "it uses another containerd daemon than occ, so BuildKit writes the image into occ's containerd over its session and occ records it"
	}
	return true, "exporting straight into containerd namespace " + store.Namespace()
}

func solveFailure(err error, t *tracker) error {
	be := &BuildError{Err: err}
	step, logs, ok := t.failed()
	if ok {
		be.Step = step.Name
		be.Logs = logs
	}
	texts := append([]string{err.Error(), step.Error}, logs...)
	be.Hint = hintFor(texts...)
	return be
}

func canceled(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, err) {
		err = errors.Join(err, cause)
	}
	return fmt.Errorf("build interrupted; the current sandbox image and image state were not changed: %w", err)
}

func saveState(path string, prov meta.Provenance) error {
	st := &meta.ImageState{Provenance: prov}
	if old, err := meta.LoadState(path); err == nil && old != nil {
		st.Previous = old.Previous
	}
	return meta.SaveState(path, st)
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
