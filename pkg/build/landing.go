package build

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// lander is one way a built image gets into containerd (a Landing): the
// export entry BuildKit writes it with, and what is left to do once the
// solve has ended.
type lander interface {
	// landing is the Landing this lander implements.
	landing() Landing
	// export returns the export entry for BuildKit, with attrs (the
	// temporary name and the annotations) as its base.
	export(ctx context.Context, attrs map[string]string) (client.ExportEntry, error)
	// solved is told how the solve ended (nil: it succeeded) and returns
	// an error when the image did not land although the solve succeeded.
	solved(ctx context.Context, solveErr error) error
	// target is the landed image: what the record will point at.
	target(ctx context.Context, resp map[string]string, reported digest.Digest) (ocispec.Descriptor, error)
	// unpacked says whether the image is unpacked already.
	unpacked() bool
	// cleanup releases what the landing holds (a temporary record, a
	// lease), also when ctx is cancelled. It runs whatever happened.
	cleanup(ctx context.Context)
}

// newLander picks the landing: straight into occ's namespace when the
// worker can (direct), else an OCI archive when asked, else the content
// store over the session.
func newLander(direct, archive bool, store ImageStore, w WorkerInfo, tmpName string, logf func(string, ...any)) lander {
	tmp := tempRecord{store: store, name: tmpName, logf: logf}
	switch {
	case direct:
		return &directLanding{tempRecord: tmp, unpack: w.Snapshotter == store.Snapshotter()}
	case archive:
		return &archiveLanding{tempRecord: tmp}
	default:
		return &contentStoreLanding{store: store, logf: logf}
	}
}

// cleanupTimeout bounds a landing's cleanup.
const cleanupTimeout = 30 * time.Second

// tempRecord is the temporary record the direct and archive landings
// export under; it goes away at the end whatever happens (once the final
// name points at the image, that holds the content).
type tempRecord struct {
	store ImageStore
	name  string
	logf  func(string, ...any)
}

func (r tempRecord) cleanup(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := r.store.DeleteImage(cctx, r.name); err != nil {
		r.logf("could not remove the temporary image record %s: %v", r.name, err)
	}
}

// directLanding: a containerd worker in occ's namespace exports the image
// record (under the temporary name) and, on the same snapshotter,
// unpacks it.
type directLanding struct {
	tempRecord
	unpack bool
}

func (l *directLanding) landing() Landing { return LandDirect }

func (l *directLanding) export(_ context.Context, attrs map[string]string) (client.ExportEntry, error) {
	if l.unpack {
		attrs["unpack"] = "true"
	}
	return client.ExportEntry{Type: client.ExporterImage, Attrs: attrs}, nil
}

func (l *directLanding) solved(context.Context, error) error { return nil }

func (l *directLanding) target(ctx context.Context, _ map[string]string, _ digest.Digest) (ocispec.Descriptor, error) {
	rec, err := l.store.Image(ctx, l.name)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("BuildKit's containerd worker reported success but the image is not in namespace %s: %w", l.store.Namespace(), err)
	}
	return rec.Target, nil
}

func (l *directLanding) unpacked() bool { return l.unpack }

// contentStoreLanding: BuildKit's oci exporter writes the blobs into
// containerd's content store over the session, held by a lease until the
// final record points at them; no temporary record.
type contentStoreLanding struct {
	store   ImageStore
	logf    func(string, ...any)
	release func(context.Context) error
}

func (l *contentStoreLanding) landing() Landing { return LandContentStore }

func (l *contentStoreLanding) export(ctx context.Context, attrs map[string]string) (client.ExportEntry, error) {
	cs, release, err := l.store.BeginIngest(ctx)
	if err != nil {
		return client.ExportEntry{}, err
	}
	l.release = release
	attrs["tar"] = "false"
	return client.ExportEntry{Type: client.ExporterOCI, Attrs: attrs, OutputStore: cs}, nil
}

func (l *contentStoreLanding) solved(context.Context, error) error { return nil }

func (l *contentStoreLanding) target(ctx context.Context, resp map[string]string, reported digest.Digest) (ocispec.Descriptor, error) {
	target, err := exportedDescriptor(resp)
	if err != nil || target.Digest != reported {
		return target, err // a digest mismatch is the caller's to report
	}
	// Held by the lease until the final record points at it.
	if err := l.store.LabelContent(ctx, target); err != nil {
		if ctx.Err() != nil {
			return target, canceled(ctx)
		}
		return target, fmt.Errorf("the built image is not complete in containerd (namespace %s): %w", l.store.Namespace(), err)
	}
	return target, nil
}

func (l *contentStoreLanding) unpacked() bool { return false }

func (l *contentStoreLanding) cleanup(ctx context.Context) {
	if l.release == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := l.release(cctx); err != nil {
		l.logf("could not release the containerd lease of this build (it expires by itself): %v", err)
	}
}

// archiveLanding: the oci exporter streams a tarball through a pipe into
// containerd's importer, which records it under the temporary name.
type archiveLanding struct {
	tempRecord
	pw       *io.PipeWriter
	done     chan importResult
	imported images.Image
}

type importResult struct {
	img images.Image
	err error
}

func (l *archiveLanding) landing() Landing { return LandArchive }

func (l *archiveLanding) export(ctx context.Context, attrs map[string]string) (client.ExportEntry, error) {
	pr, pw := io.Pipe()
	l.pw, l.done = pw, make(chan importResult, 1)
	go func() {
		img, err := l.store.ImportOCIArchive(ctx, l.name, pr)
		pr.CloseWithError(errOr(err, io.ErrClosedPipe))
		l.done <- importResult{img, err}
	}()
	return client.ExportEntry{Type: client.ExporterOCI, Attrs: attrs,
		Output: func(map[string]string) (io.WriteCloser, error) { return pw, nil }}, nil
}

// solved ends the stream (with the solve's error, if any) and waits for
// the importer.
func (l *archiveLanding) solved(ctx context.Context, solveErr error) error {
	if solveErr != nil {
		l.pw.CloseWithError(solveErr)
	} else {
		l.pw.Close()
	}
	r := <-l.done
	l.imported = r.img
	if solveErr != nil || r.err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return canceled(ctx)
	}
	return fmt.Errorf("import the built image into containerd (namespace %s): %w", l.store.Namespace(), r.err)
}

func (l *archiveLanding) target(context.Context, map[string]string, digest.Digest) (ocispec.Descriptor, error) {
	return l.imported.Target, nil
}

func (l *archiveLanding) unpacked() bool { return false }

func errOr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}
