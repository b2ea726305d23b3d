package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/semaphore"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// Result is a finished pull.
type Result struct {
	// Name is the local image record that now holds the image.
	Name       string
	Image      images.Image
	Provenance meta.Provenance
	// UpToDate is true when the image was already present and unpacked:
	// one manifest request, nothing fetched, nothing changed.
	UpToDate bool
	// FetchedBytes were downloaded; ReusedBytes were already in the store.
	FetchedBytes, ReusedBytes int64
	Duration                  time.Duration
	// InProcessUnpack is true when the layers were applied by this process
	// while they downloaded; else UnpackNote may say why not.
	InProcessUnpack bool
	UnpackNote      string
}

type puller struct {
	o         *options
	stores    Stores
	repoLabel string
	fetched   atomic.Int64
	reused    atomic.Int64
	// platform is the platform being pulled; streamSkip why the layers
	// were not applied in-process.
	platform   ocispec.Platform
	streamSkip string
	// verification is what the verifier found for the image being pulled.
	verification *meta.Verification
}

func (p *puller) emit(e Event) {
	if p.o.progress != nil {
		p.o.progress(e)
	}
}

// Pull resolves src across its repositories in order, verifies and stores
// the chosen platform's image in containerd under a lease, unpacks it, and
// creates or updates the local image record (default
// meta.CurrentImageName) with provenance labels. On failure no record is
// created or changed and the lease is deleted; the error names every
// repository tried and why it failed.
func Pull(ctx context.Context, stores Stores, src Source, opts ...Option) (*Result, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if stores.Content == nil || stores.Images == nil || stores.Leases == nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("registry.Pull needs a content store, an image store and a lease manager")
	}
	if len(src.Repositories) == 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage("no repository to pull from: set image_repositories (`occ config set image_repositories REPO[,REPO...]`)")
	}
	if src.Tag == "" && src.Digest == "" {
		src.Tag = "latest"
	}
	start := o.now()
	stores.Content = failFastContent{stores.Content} // a dead containerd ends the pull (daemongone.go)
	p := &puller{o: &o, stores: stores}
	if o.localContent != "" {
		// Killed pulls' temporary directories: nothing else removes them.
		meta.RemoveDeadOwners(o.localContent, ingestDirPrefix)
	}

	// A digest pin that is already the local image, present and unpacked,
	// needs no registry at all: the digest is the authority.
	if res, ok := p.pinnedLocal(ctx, src); ok {
		ref := res.Provenance.Reference
		p.emit(Event{Kind: EventUpToDate, Repository: res.Provenance.Repository, Reference: ref, Digest: src.Digest})
		res.Duration = o.now().Sub(start)
		p.emit(Event{Kind: EventDone, Repository: res.Provenance.Repository, Reference: ref, Digest: src.Digest})
		return res, nil
	}

	var failures []*RepoError
	for i, repo := range src.Repositories {
		repo = strings.TrimSpace(repo)
		ref := src.ref(repo)
		p.repoLabel = repo
		res, err := p.pullFrom(ctx, repo, src)
		if err == nil {
			res.Duration = o.now().Sub(start)
			res.FetchedBytes, res.ReusedBytes = p.fetched.Load(), p.reused.Load()
			p.emit(Event{Kind: EventDone, Repository: repo, Reference: ref, Digest: res.Image.Target.Digest})
			return res, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("pull of %s interrupted: %w", ref, ctx.Err())
		}
		failures = append(failures, &RepoError{Repository: repo, Reference: ref, Err: err})
		var local *localError
		if errors.As(err, &local) {
			// containerd itself failed: another repository will not help.
			break
		}
		if i+1 < len(src.Repositories) {
			p.emit(Event{Kind: EventFallback, Repository: repo, Reference: ref, Err: err, Next: src.ref(strings.TrimSpace(src.Repositories[i+1]))})
		}
	}
	return nil, &PullError{Failures: failures}
}

// localError is a failure of containerd's stores, not of the registry.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// remoteError is a blob the registry failed to serve, passed through the
// unpacker so it is not mistaken for an unpack failure.
type remoteError struct{ err error }

func (e *remoteError) Error() string { return e.err.Error() }
func (e *remoteError) Unwrap() error { return e.err }

func local(err error) error {
	if err == nil {
		return nil
	}
	return &localError{err}
}

// pullRun is one pull from one repository: what was resolved there and
// what the fetch handlers fill in.
type pullRun struct {
	p       *puller
	rc      *repoClient
	repoStr string
	refStr  string
	// top is what the reference resolved to (an index or a lone
	// manifest), topBody its bytes; manifestDesc the platform manifest
	// chosen from it and platform that manifest's platform.
	top          ocispec.Descriptor
	topBody      []byte
	manifestDesc ocispec.Descriptor
	platform     ocispec.Platform
	// manifest is the platform manifest, set by handleManifest.
	manifest ocispec.Manifest
	// layersStreamed makes handleManifest hand out the config only: the
	// layers are left to streamLayers.
	layersStreamed bool
}

func (p *puller) pullFrom(ctx context.Context, repoStr string, src Source) (_ *Result, retErr error) {
	r, err := p.resolve(ctx, repoStr, src)
	if err != nil {
		return nil, err
	}
	if err := r.verify(ctx); err != nil {
		return nil, err
	}
	if res, ok := p.upToDate(ctx, r.top, r.platform); ok {
		return r.keepRecord(ctx, res)
	}

	// Everything below happens under a lease that is always deleted: on
	// success the image record holds the content, on failure GC takes it.
	ctx, release, err := p.lease(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { release(retErr != nil) }()

	streamed, err := r.fetch(ctx)
	if err != nil {
		return nil, err
	}
	return r.finish(ctx, streamed)
}

// resolve contacts repoStr, fetches what src names there and chooses the
// platform manifest now (from the index bytes) so the already-present
// check and the events know it.
func (p *puller) resolve(ctx context.Context, repoStr string, src Source) (*pullRun, error) {
	r := &pullRun{p: p, repoStr: repoStr, refStr: src.ref(repoStr)}
	p.emit(Event{Kind: EventResolve, Repository: repoStr, Reference: r.refStr})
	rc, err := p.newRepoClient(ctx, repoStr)
	if err != nil {
		return nil, err
	}
	r.rc = rc
	ident := src.Tag
	if src.Digest != "" {
		ident = src.Digest.String()
	}
	if r.top, r.topBody, err = rc.fetchManifest(ctx, p, ident, src.Digest); err != nil {
		return nil, err
	}
	if r.manifestDesc, r.platform, err = p.choose(r.top, r.topBody); err != nil {
		return nil, err
	}
	p.platform = r.platform
	p.emit(Event{Kind: EventResolved, Repository: repoStr, Reference: r.refStr, Digest: r.top.Digest, Manifest: r.manifestDesc.Digest, Platform: platforms.Format(r.platform)})
	return r, nil
}

// verify runs the verifier on the resolved digest. The signature covers
// the index (or lone manifest) digest; the platform manifest and blobs
// are fetched by digest and checked against it, so nothing unsigned gets
// in once this passes.
func (r *pullRun) verify(ctx context.Context) error {
	p := r.p
	p.verification = nil
	if p.o.verifier == nil {
		return nil
	}
	v, err := p.o.verifier.VerifyImage(ctx, VerifyRequest{Repository: r.repoStr, Digest: r.rc.repo.Digest(r.top.Digest.String()), Remote: r.rc.remote})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &VerifyError{Digest: r.top.Digest.String(), Err: err}
	}
	p.verification = v
	p.emit(Event{Kind: EventVerified, Repository: r.repoStr, Reference: r.refStr, Digest: r.top.Digest, Verification: v})
	return nil
}

// keepRecord finishes a pull whose image is already present and
// unpacked. The record stays; what the verifier found now is recorded
// when it changes whether the image counts as verified.
func (r *pullRun) keepRecord(ctx context.Context, res *Result) (*Result, error) {
	p := r.p
	if v, rec := p.verification, res.Provenance.Verification; v != nil && (rec == nil || rec.Verified != v.Verified) {
		res.Provenance.Verification = v
		img := res.Image
		labels := make(map[string]string, len(img.Labels))
		maps.Copy(labels, img.Labels)
		maps.Copy(labels, res.Provenance.Labels())
		img.Labels = labels
		updated, err := p.stores.Images.Update(ctx, img, "labels")
		if err != nil {
			return nil, local(fmt.Errorf("recording the signature check on %s: %w", p.o.name, err))
		}
		res.Image = updated
		if err := p.saveState(res.Provenance); err != nil {
			return nil, local(err)
		}
	}
	p.emit(Event{Kind: EventUpToDate, Repository: r.repoStr, Reference: r.refStr, Digest: r.top.Digest})
	return res, nil
}

// lease creates the pull's lease and returns ctx under it. release
// deletes it; after a failure the garbage collection runs before Pull
// returns, so nothing the pull made (blobs, snapshots) is left behind.
func (p *puller) lease(ctx context.Context) (context.Context, func(failed bool), error) {
	l, err := p.stores.Leases.Create(ctx, leases.WithRandomID(), leases.WithExpiration(24*time.Hour),
		leases.WithLabel(meta.ManagedByLabel, meta.ManagedByValue), leases.WithLabel(meta.LabelOwner, meta.ProcessOwner()))
	if err != nil {
		return ctx, nil, local(fmt.Errorf("creating a containerd lease: %w", err))
	}
	release := func(failed bool) {
		var opts []leases.DeleteOpt
		if failed {
			opts = append(opts, leases.SynchronousDelete)
		}
		_ = p.stores.Leases.Delete(context.WithoutCancel(ctx), l, opts...)
	}
	return leases.WithLease(ctx, l.ID), release, nil
}

// streamUnpacker is the unpacker when it can apply layers in this process
// while they download (see stream.go), else nil (and p.streamSkip says
// why): containerd's unpacker then applies them from the content store.
func (p *puller) streamUnpacker(ctx context.Context) StreamUnpacker {
	s, ok := p.o.unpacker.(StreamUnpacker)
	if !ok {
		return nil
	}
	if err := s.StreamSupported(ctx); err != nil {
		p.streamSkip = err.Error()
		return nil
	}
	return s
}

// fetch stores the index, manifest, config and layers and unpacks the
// layers: streamed (in this process, as they download) when it can, else
// through containerd's unpacker. streamed says which.
func (r *pullRun) fetch(ctx context.Context) (streamed bool, err error) {
	p := r.p
	if su := p.streamUnpacker(ctx); su != nil {
		r.layersStreamed = true
		err := images.Dispatch(ctx, images.HandlerFunc(r.handle), semaphore.NewWeighted(int64(p.o.concurrency)), r.top)
		r.layersStreamed = false // not streamed after all: handleManifest hands out the layers again
		if err != nil {
			return false, err
		}
		if streamed, err = p.streamLayers(ctx, r.rc, su, r.manifest); err != nil || streamed {
			return streamed, err
		}
	}
	return false, p.dispatch(ctx, images.HandlerFunc(r.handle), r.top)
}

// handle is the images.Handler of the pull: it stores each descriptor
// and returns its children.
func (r *pullRun) handle(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	switch {
	case images.IsIndexType(d.MediaType):
		return r.handleIndex(ctx, d)
	case images.IsManifestType(d.MediaType):
		return r.handleManifest(ctx, d)
	default:
		return nil, r.handleBlob(ctx, d)
	}
}

// handleIndex stores the index, holding on to the chosen manifest only.
func (r *pullRun) handleIndex(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	idx, err := parseIndex(r.topBody)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for i, m := range idx.Manifests {
		if m.Digest == r.manifestDesc.Digest {
			labels["containerd.io/gc.ref.content.m."+strconv.Itoa(i)] = m.Digest.String()
		}
	}
	if err := writeManifest(ctx, r.p.stores.Content, d, r.topBody, labels); err != nil {
		return nil, local(err)
	}
	return []ocispec.Descriptor{r.manifestDesc}, nil
}

// handleManifest stores the platform manifest with labels holding its
// config and layers, and hands them out (the config only when the layers
// are streamed).
func (r *pullRun) handleManifest(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	body := r.topBody
	if d.Digest != r.top.Digest {
		var err error
		if body, err = r.rc.readLocalOrFetch(ctx, r.p, d); err != nil {
			return nil, err
		}
	}
	var manifest ocispec.Manifest
	if err := json.Unmarshal(body, &manifest); err != nil {
		return nil, fmt.Errorf("manifest %s is not valid JSON: %w", d.Digest, errors.Join(errdefs.ErrInvalidArgument, err))
	}
	if manifest.Config.Digest == "" {
		return nil, fmt.Errorf("manifest %s has no config: %w", d.Digest, errdefs.ErrInvalidArgument)
	}
	labels := map[string]string{"containerd.io/gc.ref.content.config": manifest.Config.Digest.String()}
	total := manifest.Config.Size
	for i, l := range manifest.Layers {
		labels["containerd.io/gc.ref.content.l."+strconv.Itoa(i)] = l.Digest.String()
		total += l.Size
	}
	r.manifest = manifest
	r.p.emit(Event{Kind: EventManifest, Repository: r.repoStr, Reference: r.refStr, Digest: d.Digest, Size: total})
	if err := writeManifest(ctx, r.p.stores.Content, d, body, labels); err != nil {
		return nil, local(err)
	}
	if r.layersStreamed {
		return []ocispec.Descriptor{manifest.Config}, nil
	}
	return append([]ocispec.Descriptor{manifest.Config}, manifest.Layers...), nil
}

// handleBlob fetches a config or layer blob into the content store.
func (r *pullRun) handleBlob(ctx context.Context, d ocispec.Descriptor) error {
	p := r.p
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("blob digest %q: %w", d.Digest, errors.Join(errdefs.ErrInvalidArgument, err))
	}
	p.emit(Event{Kind: EventBlobStart, Repository: r.repoStr, Digest: d.Digest, Size: d.Size, MediaType: d.MediaType})
	reused, err := r.rc.fetchBlob(ctx, p, d)
	if err != nil {
		return remoteOrLocal(err)
	}
	if reused {
		p.reused.Add(d.Size)
	}
	p.emit(Event{Kind: EventBlobDone, Repository: r.repoStr, Digest: d.Digest, Size: d.Size, MediaType: d.MediaType, Reused: reused})
	return nil
}

// dispatch fetches top and everything below it through handler, with
// containerd's unpacker applying layers as they arrive.
func (p *puller) dispatch(ctx context.Context, handler images.Handler, top ocispec.Descriptor) error {
	o := p.o
	var h images.Handler = handler
	wait := func() error { return nil }
	if o.unpacker != nil {
		wrap, w, err := o.unpacker.Wrap(ctx, p.platform, o.concurrency)
		if err != nil {
			return local(fmt.Errorf("preparing the unpack: %w", err))
		}
		h, wait = wrap(handler), w
	}
	dispatchErr := images.Dispatch(ctx, h, semaphore.NewWeighted(int64(o.concurrency)), top)
	waitErr := wait()
	if dispatchErr != nil {
		return dispatchErr
	}
	if waitErr != nil {
		var le *localError
		var re *remoteError
		if errors.As(waitErr, &le) || errors.As(waitErr, &re) {
			return waitErr
		}
		return local(fmt.Errorf("unpacking into the snapshotter: %w", waitErr))
	}
	return nil
}

// finish checks the config and records the image.
func (r *pullRun) finish(ctx context.Context, streamed bool) (*Result, error) {
	p := r.p
	cfg, err := r.config(ctx)
	if err != nil {
		return nil, err
	}
	platform := r.platform
	if !images.IsIndexType(r.top.MediaType) {
		// A single manifest carries its platform in the config.
		cp := platforms.Normalize(ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})
		if cfg.Architecture != "" && !platforms.Only(platform).Match(cp) {
			return nil, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("%s is a %s image, not %s", r.refStr, platforms.Format(cp), platforms.Format(platform)))
		}
		if cfg.Architecture != "" {
			platform = cp
		}
	}

	prov := meta.Provenance{
		Source:         meta.SourcePrebuilt,
		Registry:       r.rc.repo.RegistryStr(),
		Repository:     r.repoStr,
		Reference:      r.refStr,
		ManifestDigest: r.manifestDesc.Digest.String(),
		Platform:       platforms.Format(platform),
		AcquiredAt:     p.o.now().UTC(),
		ImageVersion:   cfg.Config.Labels[meta.ImageVersionLabel],
		Verification:   p.verification,
	}
	if images.IsIndexType(r.top.MediaType) {
		prov.IndexDigest = r.top.Digest.String()
	}
	img, err := p.record(ctx, r.top, prov)
	if err != nil {
		return nil, err
	}
	res := &Result{Name: p.o.name, Image: img, Provenance: prov, InProcessUnpack: streamed}
	if !streamed {
		res.UnpackNote = p.streamSkip
	}
	return res, nil
}

// config reads the stored image config.
func (r *pullRun) config(ctx context.Context) (ocispec.Image, error) {
	var cfg ocispec.Image
	b, err := content.ReadBlob(ctx, r.p.stores.Content, r.manifest.Config)
	if err != nil {
		return cfg, local(fmt.Errorf("reading the image config: %w", err))
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("image config %s is not valid JSON: %w", r.manifest.Config.Digest, errors.Join(errdefs.ErrInvalidArgument, err))
	}
	return cfg, nil
}

// record creates or updates the image record, then writes the state file.
func (p *puller) record(ctx context.Context, target ocispec.Descriptor, prov meta.Provenance) (images.Image, error) {
	img := images.Image{Name: p.o.name, Target: target, Labels: prov.Labels()}
	created, err := p.stores.Images.Create(ctx, img)
	if errdefs.IsAlreadyExists(err) {
		created, err = p.stores.Images.Update(ctx, img, "target", "labels")
	}
	if err != nil {
		return images.Image{}, local(fmt.Errorf("recording image %s: %w", p.o.name, err))
	}
	if err := p.saveState(prov); err != nil {
		return created, local(err)
	}
	return created, nil
}

func (p *puller) saveState(prov meta.Provenance) error {
	if p.o.stateFile == "" {
		return nil
	}
	st, _ := meta.LoadState(p.o.stateFile) // unreadable: written anew
	next := &meta.ImageState{Provenance: prov}
	if st != nil {
		next.Previous = st.Previous
	}
	if err := meta.SaveState(p.o.stateFile, next); err != nil {
		return fmt.Errorf("the image is stored as %s, but %w", p.o.name, err)
	}
	return nil
}

// pinnedLocal reports whether src is pinned to the digest the local record
// already names, for the wanted platform, with content present and
// unpacked.
func (p *puller) pinnedLocal(ctx context.Context, src Source) (*Result, bool) {
	if src.Digest == "" {
		return nil, false
	}
	img, err := p.stores.Images.Get(ctx, p.o.name)
	if err != nil || img.Target.Digest != src.Digest {
		return nil, false
	}
	prov, ok := meta.ProvenanceFromLabels(img.Labels)
	if !ok || prov.Platform == "" {
		return nil, false
	}
	// A record that was not verified (pulled under warn or off) does not
	// satisfy a verifier that now requires a signature: go to the registry.
	if r, ok := p.o.verifier.(interface{ Requires(repo string) bool }); ok && r.Requires(prov.Repository) &&
		(prov.Verification == nil || !prov.Verification.Verified) {
		return nil, false
	}
	plat, err := platforms.Parse(prov.Platform)
	if err != nil || !platforms.Only(p.o.platform).Match(plat) {
		return nil, false
	}
	return p.upToDate(ctx, img.Target, platforms.Normalize(plat))
}

// upToDate reports whether the record already names top, with its
// platform's content present and unpacked.
func (p *puller) upToDate(ctx context.Context, top ocispec.Descriptor, platform ocispec.Platform) (*Result, bool) {
	img, err := p.stores.Images.Get(ctx, p.o.name)
	if err != nil || img.Target.Digest != top.Digest {
		return nil, false
	}
	prov, ok := meta.ProvenanceFromLabels(img.Labels)
	if !ok || (prov.Platform != "" && prov.Platform != platforms.Format(platform)) {
		return nil, false
	}
	m, err := images.Manifest(ctx, p.stores.Content, img.Target, platforms.Only(platform))
	if err != nil {
		return nil, false
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if _, err := p.stores.Content.Info(ctx, d.Digest); err != nil {
			return nil, false
		}
	}
	if p.o.unpacker != nil {
		if ok, err := p.o.unpacker.Unpacked(ctx, img, platform); err != nil || !ok {
			return nil, false
		}
	}
	if err := p.saveState(prov); err != nil {
		return nil, false
	}
	return &Result{Name: p.o.name, Image: img, Provenance: prov, UpToDate: true}, true
}

// choose picks the platform manifest: from an index, the best linux match
// for the wanted platform that is not an attestation; a lone manifest is
// taken as is (its config is checked later).
func (p *puller) choose(top ocispec.Descriptor, body []byte) (ocispec.Descriptor, ocispec.Platform, error) {
	want := p.o.platform
	if !images.IsIndexType(top.MediaType) {
		return top, want, nil
	}
	idx, err := parseIndex(body)
	if err != nil {
		return ocispec.Descriptor{}, want, err
	}
	d, err := choosePlatform(idx.Manifests, want)
	if err != nil {
		return ocispec.Descriptor{}, want, err
	}
	return d, platforms.Normalize(*d.Platform), nil
}

func parseIndex(body []byte) (ocispec.Index, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(body, &idx); err != nil {
		return idx, fmt.Errorf("index is not valid JSON: %w", errors.Join(errdefs.ErrInvalidArgument, err))
	}
	return idx, nil
}

// choosePlatform picks the best match for want among an index's entries,
// never an attestation (unknown/unknown or a reference-type annotation)
// nor a nested index.
func choosePlatform(manifests []ocispec.Descriptor, want ocispec.Platform) (ocispec.Descriptor, error) {
	m := platforms.Only(want)
	var cands []ocispec.Descriptor
	var have []string
	for _, d := range manifests {
		if d.Platform == nil || !images.IsManifestType(d.MediaType) && d.MediaType != "" {
			continue
		}
		if d.Platform.OS == "unknown" || d.Platform.Architecture == "unknown" ||
			d.Annotations["vnd.docker.reference.type"] != "" {
			continue
		}
		have = append(have, platforms.Format(*d.Platform))
		if m.Match(platforms.Normalize(*d.Platform)) {
			cands = append(cands, d)
		}
	}
	if len(cands) == 0 {
		sort.Strings(have)
		list := "none"
		if len(have) > 0 {
			list = strings.Join(have, ", ")
		}
		return ocispec.Descriptor{}, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf(
			"the image has no %s variant (it has: %s)", platforms.Format(want), list))
	}
	sort.SliceStable(cands, func(i, j int) bool { return m.Less(*cands[i].Platform, *cands[j].Platform) })
	if cands[0].MediaType == "" {
		cands[0].MediaType = ocispec.MediaTypeImageManifest
	}
	return cands[0], nil
}
