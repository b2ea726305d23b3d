package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// Stores are the containerd core services a pull writes into. The context
// passed to Pull must carry the containerd namespace.
type Stores struct {
	Content content.Store
	Images  images.Store
	Leases  leases.Manager
}

// Unpacker applies an image's layers to a snapshotter. pkg/runtime
// provides the containerd-backed one; a nil Unpacker stores content only.
type Unpacker interface {
	// Wrap prepares an unpack for platform and returns a wrapper for the
	// fetch handler, so each layer is applied as soon as it (and the ones
	// below it) are in the content store, with at most limit layer fetches
	// at once; wait blocks until every layer is applied.
	Wrap(ctx context.Context, platform ocispec.Platform, limit int) (wrap func(images.Handler) images.Handler, wait func() error, err error)
	// Unpacked reports whether img is fully unpacked for platform.
	Unpacked(ctx context.Context, img images.Image, platform ocispec.Platform) (bool, error)
}

// StreamUnpacker is an Unpacker that can also apply layers in this process
// from the bytes as they download, several layers at once (pkg/runtime's
// ImageUnpacker on a local overlayfs snapshotter). Pull uses it when
// StreamSupported says so and falls back to Wrap otherwise.
type StreamUnpacker interface {
	Unpacker
	// StreamSupported fails with errdefs.ErrNotImplemented (saying why)
	// when layers cannot be applied in this process.
	StreamSupported(ctx context.Context) error
	// StartStream prepares the unpack of layers, whose uncompressed
	// digests are diffIDs (from the verified config). It fails with
	// errdefs.ErrNotImplemented when this image cannot be streamed (a
	// layer media type it cannot read).
	StartStream(ctx context.Context, config ocispec.Descriptor, layers []ocispec.Descriptor, diffIDs []digest.Digest) (LayerStream, error)
}

// LayerStream applies one image's layers. Apply may run for several
// layers at once; then Commit, or Abort, once.
type LayerStream interface {
	// Present reports whether layer i's snapshot already exists.
	Present(i int) bool
	// Apply reads layer i's compressed bytes from r until the layer ends,
	// unpacks them and verifies the uncompressed digest; a mismatch is an
	// errdefs.ErrDataLoss error. verified says r is a blob already checked
	// against its digest (from the content store). Bytes still arriving
	// from a registry are not: what they may write before their digest is
	// known is bounded, and a layer that expands past the bound is read to
	// its end without being written and fails with ErrApplyAfterVerify, to
	// be applied again from the store once its blob verifies.
	Apply(ctx context.Context, i int, r io.Reader, verified bool) error
	// Commit makes the applied layers the image's snapshot chain.
	Commit(ctx context.Context) error
	// Abort removes whatever the stream prepared or committed.
	Abort(ctx context.Context)
}

// Source is what to pull: repositories tried in order, with a tag or a
// digest. With a digest the digest is the authority and any of the
// repositories may serve it.
type Source struct {
	Repositories []string
	Tag          string
	Digest       digest.Digest
}

// SourceFromConfig is the configured sandbox image.
func SourceFromConfig(cfg *meta.Config) (Source, error) {
	s := Source{Repositories: append([]string(nil), cfg.ImageRepositories...), Tag: cfg.PullTag()}
	if cfg.ImageDigest != "" {
		d, err := digest.Parse(cfg.ImageDigest)
		if err != nil {
			return Source{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
				"image_digest %q is not a valid digest (want sha256:<64 hex digits>): fix it with `occ config set image_digest sha256:...` or clear it with `occ config set image_digest \"\"`", cfg.ImageDigest))
		}
		s.Digest = d
	}
	if len(s.Repositories) == 0 {
		return Source{}, errdefs.ErrInvalidArgument.WithMessage("image_repositories is empty: set at least one with `occ config set image_repositories ghcr.io/opencode-cloud/occ-sandbox`")
	}
	if s.Tag == "" && s.Digest == "" {
		s.Tag = "latest"
	}
	return s, nil
}

// ParseSource reads an explicit reference: REPO, REPO:TAG, REPO@DIGEST or
// REPO:TAG@DIGEST (the digest wins).
func ParseSource(ref string) (Source, error) {
	ref = strings.TrimSpace(ref)
	bad := func(why string) error {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
			"%q is not an image reference (%s); use REPOSITORY[:TAG] or REPOSITORY@sha256:DIGEST, e.g. ghcr.io/opencode-cloud/occ-sandbox:latest", ref, why))
	}
	if ref == "" {
		return Source{}, bad("it is empty")
	}
	var s Source
	if repo, d, ok := strings.Cut(ref, "@"); ok {
		dg, err := digest.Parse(d)
		if err != nil {
			return Source{}, bad(err.Error())
		}
		if dg.Algorithm() != digest.SHA256 {
			// Registries address manifests by sha256; occ verifies with it.
			return Source{}, bad("the digest must be sha256:<64 hex digits>")
		}
		s.Digest = dg
		ref = repo
	}
	// A tag is the part after the last ':' that follows the last '/'.
	repo, tag := ref, ""
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo, tag = ref[:i], ref[i+1:]
	}
	if _, err := name.NewRepository(repo); err != nil {
		return Source{}, bad(err.Error())
	}
	if err := meta.ValidateRepository(repo); err != nil {
		return Source{}, bad(err.Error())
	}
	if tag != "" {
		if _, err := name.NewTag(repo + ":" + tag); err != nil {
			return Source{}, bad(err.Error())
		}
	}
	if tag == "" && s.Digest == "" {
		tag = "latest"
	}
	s.Repositories, s.Tag = []string{repo}, tag
	return s, nil
}

// String renders the source for messages.
func (s Source) String() string {
	var out []string
	for _, r := range s.Repositories {
		out = append(out, s.ref(r))
	}
	return strings.Join(out, ", ")
}

func (s Source) ref(repo string) string {
	if s.Digest != "" {
		return repo + "@" + s.Digest.String()
	}
	return repo + ":" + s.Tag
}

// Option configures a Pull.
type Option func(*options)

type options struct {
	name        string
	platform    ocispec.Platform
	insecure    []string
	keychain    authn.Keychain
	progress    func(Event)
	unpacker    Unpacker
	concurrency int
	retries     int
	backoff     time.Duration
	maxWait     time.Duration
	// stallTimeout bounds the wait for headers and for body bytes.
	stallTimeout time.Duration
	transport    http.RoundTripper
	stateFile    string
	now          func() time.Time
	// localContent is the content root of a containerd on this host.
	localContent string
	verifier     Verifier
	hosts        *Hosts
	// ranged is when and how large blobs are fetched in parallel ranges (ranged.go).
	ranged rangedConfig
}

func defaultOptions() options {
	return options{
		name:         meta.CurrentImageName,
		platform:     HostPlatform(),
		keychain:     authn.DefaultKeychain,
		concurrency:  3,
		retries:      3,
		backoff:      time.Second,
		maxWait:      60 * time.Second,
		stallTimeout: defaultStallTimeout,
		now:          time.Now,
		ranged:       defaultRanged(),
	}
}

// HostPlatform is linux/<host arch>[/variant]: the sandbox is a Linux
// container whatever the host.
func HostPlatform() ocispec.Platform {
	p := platforms.Normalize(ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH})
	if d := platforms.DefaultSpec(); d.Architecture == p.Architecture {
		p.Variant = d.Variant
	}
	return p
}

// WithName sets the local image record to create or update (default
// meta.CurrentImageName). `occ update` pulls to a staging name and swaps.
func WithName(n string) Option { return func(o *options) { o.name = n } }

// WithPlatform chooses the platform to pull from an index (default
// linux/<host arch>).
func WithPlatform(p ocispec.Platform) Option {
	return func(o *options) { o.platform = platforms.Normalize(p) }
}

// WithInsecureRegistries lists registry hosts that may be reached over plain
// HTTP. Loopback registries always may.
func WithInsecureRegistries(hosts []string) Option {
	return func(o *options) { o.insecure = append([]string(nil), hosts...) }
}

// WithKeychain sets where credentials come from (default
// authn.DefaultKeychain: the Docker config and its credential helpers).
func WithKeychain(k authn.Keychain) Option { return func(o *options) { o.keychain = k } }

// WithProgress receives progress events. It is called from several
// goroutines at once and must not block for long.
func WithProgress(f func(Event)) Option { return func(o *options) { o.progress = f } }

// WithUnpacker unpacks layers into a snapshotter while they are fetched.
func WithUnpacker(u Unpacker) Option { return func(o *options) { o.unpacker = u } }

// WithConcurrency bounds parallel blob fetches (default 3).
func WithConcurrency(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.concurrency = n
		}
	}
}

// WithRetry sets how often a transient failure is retried and the first
// backoff (default 3 retries from 1s: waits of 1s, 2s, 4s).
func WithRetry(retries int, base time.Duration) Option {
	return func(o *options) { o.retries, o.backoff = retries, base }
}

// WithMaxRetryWait caps a server's Retry-After (default 60s).
func WithMaxRetryWait(d time.Duration) Option { return func(o *options) { o.maxWait = d } }

// WithTransport sets the base HTTP transport (default: a clone of
// http.DefaultTransport with timeouts).
func WithTransport(t http.RoundTripper) Option { return func(o *options) { o.transport = t } }

// WithLocalContentRoot lets the streaming path write layer blobs straight
// into dir, the content root of the containerd on this host (see
// localcontent.go), instead of sending their bytes over the socket.
func WithLocalContentRoot(dir string) Option { return func(o *options) { o.localContent = dir } }

// Verifier checks an image's signature once its reference is resolved to a
// digest, before anything of it is stored. A nil Verification with a nil
// error means "not checked". A Verifier that also has a method
// Requires(repo string) bool saying true for a repository makes a digest
// pin that is already local but was never verified go to the registry
// (and through the Verifier) instead of being taken as it is.
type Verifier interface {
	VerifyImage(ctx context.Context, req VerifyRequest) (*meta.Verification, error)
}

// VerifyRequest is what a Verifier gets: the repository as configured, the
// digest the reference resolved to (the index, or the lone manifest), and
// remote options (transport, credentials) that reach that registry the way
// the pull does.
type VerifyRequest struct {
	Repository string
	Digest     name.Digest
	Remote     []remote.Option
}

// WithVerifier checks the signature of what a reference resolves to before
// the pull downloads or records anything; a refusal fails that repository
// (the next one is tried) and leaves the record and state file as they were.
func WithVerifier(v Verifier) Option { return func(o *options) { o.verifier = v } }

// WithStateFile writes the image-state sidecar at path once the image
// record exists, keeping the state's Previous entry.
func WithStateFile(path string) Option { return func(o *options) { o.stateFile = path } }

// EventKind says what an Event reports.
type EventKind int

const (
	// EventResolve: about to resolve Reference at Repository.
	EventResolve EventKind = iota
	// EventResolved: Reference resolved to Digest (the top-level
	// manifest or index); Platform and Manifest are set.
	EventResolved
	// EventUpToDate: the image is already present and unpacked.
	EventUpToDate
	// EventManifest: the platform manifest (Digest) is read; Size is the
	// total of its config and layers.
	EventManifest
	// EventBlobStart: a blob (Digest, Size, MediaType) is needed.
	EventBlobStart
	// EventBlobProgress: Offset bytes of the blob are in the store.
	EventBlobProgress
	// EventBlobDone: the blob is verified and stored; Reused when it was
	// already there.
	EventBlobDone
	// EventRetry: a transient failure (Err) of Digest (empty for a
	// manifest) is retried after Wait; Attempt counts from 1.
	EventRetry
	// EventFallback: Repository failed for good (Err); Next is tried.
	EventFallback
	// EventDone: the image record Name exists.
	EventDone
	// EventVerified: the verifier accepted Digest; Verification says how
	// (Verified false: a warn policy let an unverified image through).
	EventVerified
)

// Event is one progress report.
type Event struct {
	Kind       EventKind
	Repository string
	Reference  string
	Digest     digest.Digest
	Manifest   digest.Digest
	Platform   string
	MediaType  string
	Size       int64
	Offset     int64
	Reused     bool
	Attempt    int
	Wait       time.Duration
	Err        error
	Next       string

	Verification *meta.Verification
}

// WithHosts applies registry host configuration (certs.d hosts.toml:
// mirrors, CA, client certificate, skip_verify) to the pull's transport.
func WithHosts(h *Hosts) Option { return func(o *options) { o.hosts = h } }
