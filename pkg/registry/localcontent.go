package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// localIngest writes a blob straight into the content root of a containerd
// on this host (WithLocalContentRoot), verifying its size and digest here,
// then registers it in the namespace through the content Writer. With the
// daemon's default content sharing policy ("shared") the metadata store
// sees the blob already in its backend and records it without any bytes
// crossing the gRPC socket. Otherwise (policy "isolated", or the daemon's
// garbage collector removed the unreferenced file in between) the bytes
// are sent from the local copy as usual.
//
// The blob's file is laid out as containerd's local content store lays
// out its own: <root>/blobs/<algorithm>/<encoded digest>. The temporary
// file lives in <root>/.occ-ingest-*, which the daemon does not look at.
type localIngest struct {
	cs   content.Store
	desc ocispec.Descriptor
	dir  string
	tmp  string
	f    *os.File
	dg   digest.Digester
	n    int64
	root string
}

func newLocalIngest(ctx context.Context, cs content.Store, root string, desc ocispec.Descriptor) (*localIngest, error) {
	if _, err := cs.Info(ctx, desc.Digest); err == nil {
		return nil, errdefs.ErrAlreadyExists
	}
	if desc.Digest.Algorithm() != digest.SHA256 {
		return nil, fmt.Errorf("blob %s: only sha256 blobs are written locally: %w", desc.Digest, errdefs.ErrNotImplemented)
	}
	dir, err := os.MkdirTemp(root, fmt.Sprintf("%s%d-", ingestDirPrefix, os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("writing into containerd's content root: %w", err)
	}
	tmp := filepath.Join(dir, "data")
	// 0444 as containerd writes its blobs: content is immutable.
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o444)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("writing into containerd's content root: %w", err)
	}
	return &localIngest{cs: cs, desc: desc, dir: dir, tmp: tmp, f: f, dg: digest.SHA256.Digester(), root: root}, nil
}

// ingestDirPrefix names occ's temporary directories in the content root:
// <prefix><pid>-<random>, so that a later occ removes a killed one's
// (nothing else ever would).
const ingestDirPrefix = ".occ-ingest-"

func (l *localIngest) Write(b []byte) (int, error) {
	n, err := l.f.Write(b)
	l.dg.Hash().Write(b[:n])
	l.n += int64(n)
	return n, err
}

func (l *localIngest) Status() (content.Status, error) {
	return content.Status{Offset: l.n, Total: l.desc.Size, Expected: l.desc.Digest}, nil
}

func (l *localIngest) Truncate(size int64) error {
	if size != 0 {
		return fmt.Errorf("truncate to %d: %w", size, errdefs.ErrNotImplemented)
	}
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	l.dg, l.n = digest.SHA256.Digester(), 0
	return nil
}

func (l *localIngest) abort() {}

func (l *localIngest) close() {
	_ = l.f.Close()
	_ = os.RemoveAll(l.dir)
}

func (l *localIngest) commit(ctx context.Context, labels map[string]string) error {
	d := l.desc
	if l.n != d.Size {
		return &remoteError{fmt.Errorf("blob %s is %d bytes, its descriptor says %d: %w", d.Digest, l.n, d.Size, ErrDigestMismatch)}
	}
	if got := l.dg.Digest(); got != d.Digest {
		return &remoteError{fmt.Errorf("blob %s: the registry served content with digest %s: %w", d.Digest, got, ErrDigestMismatch)}
	}
	// Durable before it is visible, as containerd's own store does.
	if err := l.f.Sync(); err != nil {
		return local(fmt.Errorf("storing blob %s: %w", d.Digest, err))
	}
	target := filepath.Join(l.root, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded())
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return local(fmt.Errorf("storing blob %s: %w", d.Digest, err))
	}
	if err := os.Link(l.tmp, target); err != nil && !errors.Is(err, os.ErrExist) {
		return local(fmt.Errorf("storing blob %s: %w", d.Digest, err))
	}
	// Register it in the namespace (under the pull's lease, with labels).
	ref := "occ-pull-" + d.Digest.String()
	w, err := content.OpenWriter(ctx, l.cs, content.WithRef(ref), content.WithDescriptor(d))
	if errdefs.IsAlreadyExists(err) {
		return commitWriter(ctx, l.cs, nopCommitWriter{}, d, labels)
	}
	if err != nil {
		return local(fmt.Errorf("opening a content store writer for %s: %w", d.Digest, err))
	}
	defer w.Close()
	st, err := w.Status()
	if err != nil {
		return local(fmt.Errorf("content store status of %s: %w", d.Digest, err))
	}
	if st.Offset != d.Size { // not shared: send the bytes
		if err := w.Truncate(0); err != nil {
			return local(fmt.Errorf("storing blob %s: %w", d.Digest, err))
		}
		if _, err := l.f.Seek(0, io.SeekStart); err != nil {
			return local(err)
		}
		if _, err := pipeCopy(w, l.f, io.NopCloser(nil)); err != nil {
			return local(fmt.Errorf("storing blob %s: %w", d.Digest, err))
		}
	}
	return commitWriter(ctx, l.cs, w, d, labels)
}

// nopCommitWriter's Commit reports AlreadyExists, so commitWriter only
// labels the blob that is already there.
type nopCommitWriter struct{ content.Writer }

func (nopCommitWriter) Commit(context.Context, int64, digest.Digest, ...content.Opt) error {
	return errdefs.ErrAlreadyExists
}

// openInContentRoot opens desc's file in the content root, if it is there
// with desc's size. The caller's digest checks (the diff ID) still apply.
func openInContentRoot(root string, desc ocispec.Descriptor) (*os.File, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(root, "blobs", desc.Digest.Algorithm().String(), desc.Digest.Encoded()))
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || st.Size() != desc.Size {
		f.Close()
		return nil, fmt.Errorf("blob %s: not a regular file of %d bytes in %s", desc.Digest, desc.Size, root)
	}
	return f, nil
}

// inContentRoot says whether the content root holds a file for desc (in
// this namespace or, to be shared, in another). For the config just
// stored through the content API it proves that root is the daemon's
// content root as seen from here, not another directory of that name.
func inContentRoot(root string, desc ocispec.Descriptor) bool {
	st, err := os.Stat(filepath.Join(root, "blobs", desc.Digest.Algorithm().String(), desc.Digest.Encoded()))
	return err == nil && st.Mode().IsRegular() && st.Size() == desc.Size
}

// StaleIngestAge is how long an .occ-ingest-* directory must have gone
// unwritten to be taken for one a killed pull left: a live ingest writes
// its data file continuously, and a stalled download is given up long
// before this.
const StaleIngestAge = time.Hour

// RemoveStaleIngests removes the .occ-ingest-* directories in containerd's
// content root that a killed pull left (none of its files written for
// maxAge). It returns how many it removed.
func RemoveStaleIngests(root string, maxAge time.Duration) int {
	dirs, err := filepath.Glob(filepath.Join(root, ".occ-ingest-*"))
	if err != nil {
		return 0
	}
	cutoff := time.Now().Add(-maxAge)
	n := 0
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() || fi.ModTime().After(cutoff) {
			continue
		}
		fresh := false
		if entries, err := os.ReadDir(d); err == nil {
			for _, e := range entries {
				if ei, err := e.Info(); err == nil && ei.ModTime().After(cutoff) {
					fresh = true
				}
			}
		}
		if !fresh && os.RemoveAll(d) == nil {
			n++
		}
	}
	return n
}
