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
	"github.com/docker/cli/cli/config"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
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
	if meta.Version == "" || meta.Version == "dev" {
		return nil, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("this occ has no release version (%q), so the image's %s label would be meaningless; build occ with -ldflags -X github.com/opencode-cloud/occ/pkg/meta.Version=…", meta.Version, meta.ImageVersionLabel))
	}
	name := opts.Name
	if name == "" {
		name = meta.CurrentImageName
	}
	bctx := opts.Context
	if bctx == nil {
		bctx = EmbeddedContext()
	}
	ctxDigest, err := bctx.Digest()
	if err != nil {
		return nil, err
	}
	caDir := opts.SystemCADir
	switch caDir {
	case "":
		caDir = meta.SystemExtraCADir
	case NoSystemCA:
		caDir = ""
	}
	extraCA, err := LoadExtraCA(opts.ExtraCAFiles, caDir)
	if err != nil {
		return nil, err
	}
	attachables := []session.Attachable{dockerAuth()}
	if sec, err := extraCA.secrets(); err != nil {
		return nil, err
	} else if sec != nil {
		attachables = append(attachables, sec)
		logf("passing %d extra CA certificate(s) from %s to the build as secret %s (not stored in the image)",
			extraCA.Count, strings.Join(extraCA.Files, ", "), ExtraCASecretID)
	}
	if extraCA != nil && len(extraCA.Skipped) > 0 {
		logf("no CA certificate in %s: skipped", strings.Join(extraCA.Skipped, ", "))
	}

	epoch := opts.SourceDateEpoch
	if epoch == nil {
		if v, ok := opts.BuildArgs[ArgSourceDateEpoch]; ok {
			n, err := parseEpoch(v)
			if err != nil {
				return nil, err
			}
			epoch = &n
		} else if v := os.Getenv(ArgSourceDateEpoch); v != "" {
			n, err := parseEpoch(v)
			if err != nil {
				return nil, fmt.Errorf("$%s: %w", ArgSourceDateEpoch, err)
			}
			epoch = &n
		}
	}
	created := start.UTC()
	if epoch != nil {
		created = time.Unix(*epoch, 0).UTC()
	}

	frontendAttrs := map[string]string{"filename": "Dockerfile"}
	for k, v := range opts.BuildArgs {
		frontendAttrs["build-arg:"+k] = v
	}
	frontendAttrs["build-arg:"+ArgVersion] = meta.Version
	if opts.BaseImage != "" {
		frontendAttrs["build-arg:"+ArgBaseImage] = opts.BaseImage
	}
	if epoch != nil {
		frontendAttrs["build-arg:"+ArgSourceDateEpoch] = strconv.FormatInt(*epoch, 10)
	}
	if opts.NoCache {
		frontendAttrs["no-cache"] = ""
	}

	direct, why := canExportDirect(ctx, d.Worker, store)
	logf("BuildKit %s at %s, %s worker: %s", d.Version, d.Address, d.Worker.Kind, why)

	// Leftover temporary records are cleared while BuildKit works.
	var sweep sync.WaitGroup
	sweep.Go(func() { sweepStale(ctx, store, logf) })
	defer sweep.Wait()
	tmpName := tempPrefix + randomID()
	exportAttrs := map[string]string{
		"name": tmpName,
		"annotation." + ocispec.AnnotationCreated:  created.Format(time.RFC3339),
		"annotation." + ocispec.AnnotationVersion:  meta.Version,
		"annotation." + ocispec.AnnotationRevision: meta.Commit,
		"annotation." + ocispec.AnnotationSource:   SourceURL,
	}
	if epoch != nil {
		exportAttrs["rewrite-timestamp"] = "true"
	}

	landing := LandDirect
	switch {
	case direct:
	case opts.OCIArchive:
		landing = LandArchive
	default:
		landing = LandContentStore
	}

	// cleanup removes the temporary record (the content-store landing
	// makes none), also when ctx is cancelled.
	cleanup := func() {
		if landing == LandContentStore {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := store.DeleteImage(cctx, tmpName); err != nil {
			logf("could not remove the temporary image record %s: %v", tmpName, err)
		}
	}

	var export client.ExportEntry
	var importDone chan importResult
	var pw *io.PipeWriter
	switch landing {
	case LandDirect:
		export = client.ExportEntry{Type: client.ExporterImage, Attrs: exportAttrs}
		if d.Worker.Snapshotter == store.Snapshotter() {
			export.Attrs["unpack"] = "true"
		}
	case LandContentStore:
		cs, release, err := store.BeginIngest(ctx)
		if err != nil {
			return nil, err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := release(cctx); err != nil {
				logf("could not release the containerd lease of this build (it expires by itself): %v", err)
			}
		}()
		exportAttrs["tar"] = "false"
		export = client.ExportEntry{Type: client.ExporterOCI, Attrs: exportAttrs, OutputStore: cs}
	case LandArchive:
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		importDone = make(chan importResult, 1)
		go func() {
			img, err := store.ImportOCIArchive(ctx, tmpName, pr)
			pr.CloseWithError(errOr(err, io.ErrClosedPipe))
			importDone <- importResult{img, err}
		}()
		export = client.ExportEntry{Type: client.ExporterOCI, Attrs: exportAttrs,
			Output: func(map[string]string) (io.WriteCloser, error) { return pw, nil }}
	}

	solveOpt := client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: frontendAttrs,
		LocalMounts:   map[string]fsutil.FS{"context": bctx.FS, "dockerfile": bctx.FS},
		Exports:       []client.ExportEntry{export},
		CacheImports:  opts.CacheImports,
		CacheExports:  opts.CacheExports,
		Session:       attachables,
	}

	t := newTracker()
	ch := make(chan *client.SolveStatus)
	waitProgress, err := runProgress(ctx, ch, t, opts.Progress, opts.ProgressMode, opts.OnStatus)
	if err != nil {
		if pw != nil {
			pw.CloseWithError(err)
			<-importDone
		}
		return nil, err
	}
	solveStart := time.Now()
	resp, solveErr := d.Solve(ctx, nil, solveOpt, ch) // closes ch
	_ = waitProgress()
	solveTime := time.Since(solveStart)

	var imported images.Image
	if landing == LandArchive {
		if solveErr != nil {
			pw.CloseWithError(solveErr)
		} else {
			pw.Close()
		}
		r := <-importDone
		imported = r.img
		if solveErr == nil && r.err != nil {
			cleanup()
			if ctx.Err() != nil {
				return nil, canceled(ctx)
			}
			return nil, fmt.Errorf("import the built image into containerd (namespace %s): %w", store.Namespace(), r.err)
		}
	}
	if solveErr != nil {
		cleanup()
		if ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		return nil, solveFailure(solveErr, t)
	}

	// From here the image may exist under tmpName; that record goes away
	// at the end whatever happens (once the final name points at the
	// image, it holds the content).
	defer cleanup()

	reported, err := digest.Parse(resp.ExporterResponse[exptypes.ExporterImageDigestKey])
	if err != nil {
		return nil, fmt.Errorf("BuildKit reported no usable image digest (%q): %w", resp.ExporterResponse[exptypes.ExporterImageDigestKey], err)
	}
	var target ocispec.Descriptor
	switch landing {
	case LandDirect:
		rec, err := store.Image(ctx, tmpName)
		if err != nil {
			return nil, fmt.Errorf("BuildKit's containerd worker reported success but the image is not in namespace %s: %w", store.Namespace(), err)
		}
		target = rec.Target
	case LandContentStore:
		if target, err = exportedDescriptor(resp.ExporterResponse); err != nil {
			return nil, err
		}
		if target.Digest == reported {
			// Held by the lease until the final record points at it.
			if err := store.LabelContent(ctx, target); err != nil {
				if ctx.Err() != nil {
					return nil, canceled(ctx)
				}
				return nil, fmt.Errorf("the built image is not complete in containerd (namespace %s): %w", store.Namespace(), err)
			}
		}
	case LandArchive:
		target = imported.Target
	}
	if target.Digest != reported {
		return nil, errdefs.ErrDataLoss.WithMessage(fmt.Sprintf("the image that landed in containerd (%s) is not the one BuildKit built (%s); nothing was changed, build again", target.Digest, reported))
	}
	// A containerd worker on the same snapshotter has unpacked it already.
	if export.Attrs["unpack"] != "true" {
		if err := store.Unpack(ctx, target); err != nil {
			if ctx.Err() != nil {
				return nil, canceled(ctx)
			}
			return nil, fmt.Errorf("unpack the built image into snapshotter %s: %w", store.Snapshotter(), err)
		}
	}
	cfg, err := store.ImageConfig(ctx, target)
	if err != nil {
		if ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		return nil, fmt.Errorf("read the built image's config: %w", err)
	}
	if got := cfg.Config.Labels[meta.ImageVersionLabel]; got != meta.Version {
		return nil, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("the built image's %s label is %q, not this occ's version %q: the Dockerfile must declare `ARG %s` and `LABEL %s=\"${%s}\"` (nothing was changed)",
			meta.ImageVersionLabel, got, meta.Version, ArgVersion, meta.ImageVersionLabel, ArgVersion))
	}

	worker := WorkerOCI
	if d.Worker.Kind == WorkerContainerd {
		worker = WorkerContainerd
	}
	prov := meta.Provenance{
		Source:         meta.SourceBuild,
		ManifestDigest: reported.String(),
		Platform:       platforms.Format(platforms.Normalize(ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})),
		AcquiredAt:     time.Now().UTC(),
		ImageVersion:   cfg.Config.Labels[meta.ImageVersionLabel],
		Build: &meta.BuildInfo{
			BuildkitVersion: d.Version,
			Worker:          worker,
			ContextDigest:   ctxDigest.String(),
			NoCache:         opts.NoCache,
		},
	}
	if ctx.Err() != nil {
		return nil, canceled(ctx)
	}
	img, err := store.SetImage(ctx, name, target, prov.Labels())
	if err != nil {
		return nil, fmt.Errorf("record the built image as %s: %w", name, err)
	}
	logf("BuildKit took %s; before it %s, after it %s (landing: %s)", solveTime.Round(time.Millisecond),
		solveStart.Sub(start).Round(time.Millisecond), time.Since(solveStart.Add(solveTime)).Round(time.Millisecond), landing)

	if opts.StateFile != "" {
		if err := saveState(opts.StateFile, prov); err != nil {
			return nil, fmt.Errorf("the image is recorded as %s, but %w", name, err)
		}
	}
	return &Result{
		Image: img, Digest: reported, Provenance: prov, Landing: landing, Direct: direct, Worker: d.Worker,
		Steps: t.Steps(), Warnings: t.warnings, Duration: time.Since(start), ExtraCA: extraCA,
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

type importResult struct {
	img images.Image
	err error
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

func dockerAuth() session.Attachable {
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(config.LoadDefaultConfigFile(io.Discard)),
	})
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func errOr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}
