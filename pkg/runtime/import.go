package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// ImageStore is the containerd side of landing a locally produced image:
// writing its content under a lease or importing an OCI archive, unpacking,
// reading the config, and pointing a record at it. Everything runs in the client's
// namespace. It satisfies pkg/build's ImageStore.
type ImageStore struct {
	c *Client
}

// ImageStore returns the image helpers bound to c's namespace and snapshotter.
func (c *Client) ImageStore() *ImageStore { return &ImageStore{c: c} }

// Namespace is the containerd namespace images are recorded in.
func (s *ImageStore) Namespace() string { return s.c.Namespace }

// Snapshotter is the snapshotter images are unpacked into.
func (s *ImageStore) Snapshotter() string { return s.c.Snapshotter }

// ServerUUID is the containerd daemon's UUID.
func (s *ImageStore) ServerUUID(ctx context.Context) (string, error) {
	info, err := s.c.ctr.Server(s.c.WithNamespace(ctx))
	if err != nil {
		return "", fmt.Errorf("containerd server info: %w", err)
	}
	return info.UUID, nil
}

// ImportOCIArchive streams an OCI image-layout tar (as BuildKit's oci
// exporter writes it) into the content store with containerd's classic
// importer, which keeps every digest as it is, and records the archive's
// image under name. Content is held by a lease until the record exists.
// The archive must name exactly one image for the client's platform.
func (s *ImageStore) ImportOCIArchive(ctx context.Context, name string, r io.Reader) (images.Image, error) {
	ctx = s.c.WithNamespace(ctx)
	imgs, err := s.c.ctr.Import(ctx, r,
		containerd.WithImageRefTranslator(func(string) string { return name }),
		containerd.WithSkipDigestRef(func(string) bool { return true }))
	if err != nil {
		return images.Image{}, fmt.Errorf("import OCI archive: %w", err)
	}
	var found *images.Image
	for i := range imgs {
		if imgs[i].Name == name {
			found = &imgs[i]
		}
	}
	if found == nil {
		return images.Image{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("the OCI archive names no image (imported %d records); cannot record it as %s", len(imgs), name))
	}
	return *found, nil
}

// Image returns the record called name.
func (s *ImageStore) Image(ctx context.Context, name string) (images.Image, error) {
	return s.c.ctr.ImageService().Get(s.c.WithNamespace(ctx), name)
}

// image wraps target as a client image for the client's platform (the
// name is only for messages; no record is needed).
func (s *ImageStore) image(target ocispec.Descriptor) containerd.Image {
	return containerd.NewImage(s.c.ctr, images.Image{Name: target.Digest.String(), Target: target})
}

// Unpack unpacks the image target into the client's snapshotter, unless it
// already is. Its content must be held (by a record or a lease).
func (s *ImageStore) Unpack(ctx context.Context, target ocispec.Descriptor) error {
	ctx = s.c.WithNamespace(ctx)
	img := s.image(target)
	ok, err := img.IsUnpacked(ctx, s.c.Snapshotter)
	if err != nil {
		return fmt.Errorf("check whether %s is unpacked: %w", target.Digest, err)
	}
	if ok {
		return nil
	}
	return img.Unpack(ctx, s.c.Snapshotter)
}

// ImageConfig reads the config of the image target (for the client's platform).
func (s *ImageStore) ImageConfig(ctx context.Context, target ocispec.Descriptor) (ocispec.Image, error) {
	ctx = s.c.WithNamespace(ctx)
	desc, err := s.image(target).Config(ctx)
	if err != nil {
		return ocispec.Image{}, err
	}
	blob, err := content.ReadBlob(ctx, s.c.ctr.ContentStore(), desc)
	if err != nil {
		return ocispec.Image{}, err
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(blob, &cfg); err != nil {
		return ocispec.Image{}, fmt.Errorf("decode image config %s: %w", desc.Digest, err)
	}
	return cfg, nil
}

// SetImage points the record name at target with exactly labels, in one
// update (or create). The name annotations an exporter or importer put on
// the target are dropped.
func (s *ImageStore) SetImage(ctx context.Context, name string, target ocispec.Descriptor, labels map[string]string) (images.Image, error) {
	ctx = s.c.WithNamespace(ctx)
	is := s.c.ctr.ImageService()
	if len(target.Annotations) > 0 {
		a := make(map[string]string, len(target.Annotations))
		for k, v := range target.Annotations {
			if k != images.AnnotationImageName && k != ocispec.AnnotationRefName {
				a[k] = v
			}
		}
		if len(a) == 0 {
			a = nil
		}
		target.Annotations = a
	}
	if len(s.c.ImageLabels) > 0 {
		l := make(map[string]string, len(labels)+len(s.c.ImageLabels))
		maps.Copy(l, labels)
		maps.Copy(l, s.c.ImageLabels)
		labels = l
	}
	want := images.Image{Name: name, Target: target, Labels: labels}
	var img images.Image
	var err error
	for attempt := 0; ; attempt++ {
		img, err = is.Update(ctx, want, "target", "labels")
		if err == nil {
			break
		}
		if !errdefs.IsNotFound(err) {
			return images.Image{}, err
		}
		img, err = is.Create(ctx, want)
		if err == nil {
			break
		}
		if !errdefs.IsAlreadyExists(err) || attempt > 2 {
			return images.Image{}, err
		}
	}
	return img, nil
}

// ListImages lists the records matching the containerd filters (all when none).
func (s *ImageStore) ListImages(ctx context.Context, filters ...string) ([]images.Image, error) {
	return s.c.ctr.ImageService().List(s.c.WithNamespace(ctx), filters...)
}

// DeleteImage deletes the record called name; a missing one is fine.
func (s *ImageStore) DeleteImage(ctx context.Context, name string) error {
	err := s.c.ctr.ImageService().Delete(s.c.WithNamespace(ctx), name)
	if err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// IngestLeaseExpiry bounds how long content written by an ingest that never
// finished (occ killed mid-build) is kept before containerd collects it.
const IngestLeaseExpiry = time.Hour

// BeginIngest returns the content store bound to the client's namespace,
// with everything written through it held by a new lease, so that a
// producer (BuildKit's oci exporter over its session) can write an image
// straight in: blobs containerd already has are skipped by digest, and
// nothing is wrapped in a tarball. Label it with LabelContent, point a
// record at it with SetImage, then call release; content no record points
// at by then is left to the GC.
func (s *ImageStore) BeginIngest(ctx context.Context) (content.Store, func(context.Context) error, error) {
	ctx = s.c.WithNamespace(ctx)
	lm := s.c.ctr.LeasesService()
	l, err := lm.Create(ctx, leases.WithRandomID(), leases.WithExpiration(IngestLeaseExpiry),
		leases.WithLabel(meta.ManagedByLabel, meta.ManagedByValue), leases.WithLabel(meta.LabelOwner, meta.ProcessOwner()))
	if err != nil {
		return nil, nil, fmt.Errorf("create a containerd lease: %w", err)
	}
	release := func(ctx context.Context) error {
		return lm.Delete(s.c.WithNamespace(ctx), l)
	}
	return &leasedStore{Store: s.c.ctr.ContentStore(), ns: s.c.Namespace, lease: l.ID}, release, nil
}

// LabelContent labels the children of target (and theirs) so that
// containerd's GC keeps them through whatever record points at target, as
// containerd's own pull and import do. The content must be in the store
// (written through BeginIngest, still under its lease).
func (s *ImageStore) LabelContent(ctx context.Context, target ocispec.Descriptor) error {
	ctx = s.c.WithNamespace(ctx)
	cs := s.c.ctr.ContentStore()
	if err := images.Walk(ctx, images.SetChildrenLabels(cs, images.ChildrenHandler(cs)), target); err != nil {
		return fmt.Errorf("label the content of %s: %w", target.Digest, err)
	}
	return nil
}

// leasedStore scopes every call to a namespace and a lease: the calls come
// from BuildKit's session with contexts that carry neither.
type leasedStore struct {
	content.Store
	ns, lease string
}

func (l *leasedStore) scope(ctx context.Context) context.Context {
	return leases.WithLease(namespaces.WithNamespace(ctx, l.ns), l.lease)
}

func (l *leasedStore) Info(ctx context.Context, d digest.Digest) (content.Info, error) {
	return l.Store.Info(l.scope(ctx), d)
}

func (l *leasedStore) Update(ctx context.Context, info content.Info, fieldpaths ...string) (content.Info, error) {
	return l.Store.Update(l.scope(ctx), info, fieldpaths...)
}

func (l *leasedStore) Walk(ctx context.Context, fn content.WalkFunc, filters ...string) error {
	return l.Store.Walk(l.scope(ctx), fn, filters...)
}

func (l *leasedStore) Delete(ctx context.Context, d digest.Digest) error {
	return l.Store.Delete(l.scope(ctx), d)
}

func (l *leasedStore) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	return l.Store.ReaderAt(l.scope(ctx), desc)
}

func (l *leasedStore) Status(ctx context.Context, ref string) (content.Status, error) {
	return l.Store.Status(l.scope(ctx), ref)
}

func (l *leasedStore) ListStatuses(ctx context.Context, filters ...string) ([]content.Status, error) {
	return l.Store.ListStatuses(l.scope(ctx), filters...)
}

func (l *leasedStore) Abort(ctx context.Context, ref string) error {
	return l.Store.Abort(l.scope(ctx), ref)
}

func (l *leasedStore) Writer(ctx context.Context, opts ...content.WriterOpt) (content.Writer, error) {
	return l.Store.Writer(l.scope(ctx), opts...)
}
