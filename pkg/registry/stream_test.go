package registry

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// fakeStream is a StreamUnpacker whose Apply gunzips the layer and checks
// its digest against the diff ID, as the real one does, without a
// snapshotter. It records how every stream ended.
type fakeStream struct {
	fakeUnpacker
	unsupported error
	// failLayer, when >= 0, makes Apply of that layer fail with a local
	// error after reading half its bytes.
	failLayer int
	// deferLayer, when >= 0, makes Apply of that layer, unverified, read
	// all its bytes and fail with ErrApplyAfterVerify, as the real one does
	// for a layer that expands past the bound.
	deferLayer int

	mu      sync.Mutex
	streams []*fakeLayerStream
}

func newFakeStream() *fakeStream { return &fakeStream{failLayer: -1, deferLayer: -1} }

func (f *fakeStream) StreamSupported(ctx context.Context) error { return f.unsupported }

func (f *fakeStream) StartStream(ctx context.Context, config ocispec.Descriptor, layers []ocispec.Descriptor, diffIDs []digest.Digest) (LayerStream, error) {
	s := &fakeLayerStream{f: f, layers: layers, diffIDs: diffIDs, applied: map[int]bool{}, verified: map[int]bool{}}
	f.mu.Lock()
	f.streams = append(f.streams, s)
	f.mu.Unlock()
	return s, nil
}

// last is the latest stream, nil when none started.
func (f *fakeStream) last() *fakeLayerStream {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.streams) == 0 {
		return nil
	}
	return f.streams[len(f.streams)-1]
}

// open counts streams that ended with neither Commit nor Abort, and
// streams that kept applied layers after an Abort.
func (f *fakeStream) open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.streams {
		s.mu.Lock()
		if !s.committed && !s.aborted {
			n++
		}
		s.mu.Unlock()
	}
	return n
}

type fakeLayerStream struct {
	f       *fakeStream
	layers  []ocispec.Descriptor
	diffIDs []digest.Digest

	mu                 sync.Mutex
	applied            map[int]bool
	verified           map[int]bool // applied from the store
	committed, aborted bool
}

func (s *fakeLayerStream) Present(i int) bool { return false }

func (s *fakeLayerStream) Apply(ctx context.Context, i int, r io.Reader, verified bool) error {
	if i == s.f.failLayer {
		if _, err := io.CopyN(io.Discard, r, s.layers[i].Size/2); err != nil {
			return err
		}
		return errors.New("no space left on device")
	}
	if i == s.f.deferLayer && !verified {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		return fmt.Errorf("layer %s: %w", s.layers[i].Digest, ErrApplyAfterVerify)
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("layer %s: %v: %w", s.layers[i].Digest, err, errdefs.ErrDataLoss)
	}
	h := sha256.New()
	if _, err := io.Copy(h, zr); err != nil {
		return fmt.Errorf("layer %s: %v: %w", s.layers[i].Digest, err, errdefs.ErrDataLoss)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != s.diffIDs[i] {
		return fmt.Errorf("layer %s uncompresses to %s, not %s: %w", s.layers[i].Digest, got, s.diffIDs[i], errdefs.ErrDataLoss)
	}
	s.mu.Lock()
	s.applied[i] = true
	s.verified[i] = verified
	s.mu.Unlock()
	return nil
}

func (s *fakeLayerStream) Commit(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.applied) != len(s.layers) {
		return fmt.Errorf("commit with %d of %d layers applied", len(s.applied), len(s.layers))
	}
	s.committed = true
	s.f.unpacked = true
	return nil
}

func (s *fakeLayerStream) Abort(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aborted = true
	s.applied = map[int]bool{}
}

func TestPullStream(t *testing.T) {
	reg := newFaultRegistry(t)
	img := testImage(t, "6.0.0")
	repo := reg.push(t, "stream:latest", img)
	e := newEnv(t)
	fs := newFakeStream()

	res, err := e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, &recorder{}, WithUnpacker(fs))
	if err != nil {
		t.Fatal(err)
	}
	if !res.InProcessUnpack || fs.wraps != 0 {
		t.Errorf("not streamed: InProcessUnpack=%v wraps=%d note=%q", res.InProcessUnpack, fs.wraps, res.UnpackNote)
	}
	if s := fs.last(); s == nil || !s.committed || len(s.applied) != 3 {
		t.Fatalf("stream %+v", s)
	}
	// Layer blobs are stored, verified, with their uncompressed digest.
	cf, _ := img.ConfigFile()
	for i := range 3 {
		info, err := e.stores.Content.Info(e.ctx, digest.Digest(layerDigest(t, img, i)))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Labels[labelUncompressed]; got != cf.RootFS.DiffIDs[i].String() {
			t.Errorf("layer %d uncompressed label %q", i, got)
		}
	}
	got, _ := e.stores.Images.Get(e.ctx, meta.CurrentImageName)
	e.assertClean(t, &got)

	// Re-pull: one manifest request, nothing applied again.
	reg.setFault(nil)
	res, err = e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, &recorder{}, WithUnpacker(fs))
	if err != nil || !res.UpToDate || len(fs.streams) != 1 {
		t.Errorf("re-pull: %v, UpToDate=%v, %d streams", err, res != nil && res.UpToDate, len(fs.streams))
	}
	if reqs := reg.requests(); len(reqs) != 1 {
		t.Errorf("re-pull requests %v", reqs)
	}

	// Blobs present but not unpacked: applied from the store, no download.
	fs.unpacked = false
	reg.setFault(nil)
	res, err = e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, &recorder{}, WithUnpacker(fs))
	if err != nil || res.FetchedBytes != 0 || !res.InProcessUnpack {
		t.Fatalf("unpack from the store: %v fetched=%d", err, res.FetchedBytes)
	}
	for _, r := range reg.requests() {
		if strings.Contains(r, "/blobs/") {
			t.Errorf("blob downloaded again: %s", r)
		}
	}
}

func TestPullStreamFallback(t *testing.T) {
	reg := newFaultRegistry(t)
	repo := reg.push(t, "fallback:latest", testImage(t, "6.0.1"))
	e := newEnv(t)
	fs := newFakeStream()
	fs.unsupported = errdefs.ErrNotImplemented.WithMessage("not root")
	res, err := e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, &recorder{}, WithUnpacker(fs))
	if err != nil {
		t.Fatal(err)
	}
	if res.InProcessUnpack || fs.wraps != 1 || len(fs.streams) != 0 || res.UnpackNote != "not root" {
		t.Errorf("InProcessUnpack=%v wraps=%d streams=%d note=%q", res.InProcessUnpack, fs.wraps, len(fs.streams), res.UnpackNote)
	}
}

func TestPullStreamFailures(t *testing.T) {
	reg := newFaultRegistry(t)
	img := testImage(t, "6.1.0")
	repo := reg.push(t, "streamfail:latest", img)
	other := reg.push(t, "streamfail2:latest", img)

	// The config's diff ID for layer 1 is wrong: same layers, other config.
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs[1] = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	bad, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	badRepo := reg.push(t, "baddiff:latest", bad)

	t.Run("abort mid-apply", func(t *testing.T) {
		e := newEnv(t)
		fs := newFakeStream()
		fs.failLayer = 1
		rec := &recorder{}
		_, err := e.pull(Source{Repositories: []string{repo, other}, Tag: "latest"}, rec, WithUnpacker(fs))
		if err == nil || !strings.Contains(err.Error(), "no space left on device") {
			t.Fatalf("err = %v", err)
		}
		// A local failure: the next repository would not help.
		if len(rec.kinds(EventFallback)) != 0 {
			t.Errorf("fell back after a local failure")
		}
		if s := fs.last(); s == nil || !s.aborted || s.committed || fs.open() != 0 {
			t.Errorf("stream not aborted: %+v", s)
		}
		e.assertClean(t, nil)
		// The half-applied layer's blob was not committed.
		if _, err := e.stores.Content.Info(e.ctx, digest.Digest(layerDigest(t, img, 1))); err == nil {
			t.Errorf("blob of the failed layer committed")
		}
		if sts, _ := e.stores.Content.ListStatuses(e.ctx); len(sts) != 0 {
			t.Errorf("ingests left: %v", sts)
		}
	})
	t.Run("diff ID mismatch", func(t *testing.T) {
		e := newEnv(t)
		fs := newFakeStream()
		_, err := e.pull(Source{Repositories: []string{badRepo}, Tag: "latest"}, &recorder{}, WithUnpacker(fs))
		if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), strings.Repeat("ab", 32)) {
			t.Fatalf("err = %v, want a digest mismatch naming the diff ID", err)
		}
		if s := fs.last(); s == nil || !s.aborted || s.committed {
			t.Errorf("stream not aborted: %+v", s)
		}
		e.assertClean(t, nil)
		if _, err := e.stores.Content.Info(e.ctx, digest.Digest(layerDigest(t, img, 1))); err == nil {
			t.Errorf("blob of the mismatched layer committed")
		}
	})
	t.Run("cut mid-blob with a registry that ignores Range", func(t *testing.T) {
		e := newEnv(t)
		fs := newFakeStream()
		layer := layerDigest(t, img, 2)
		body := layerBytes(t, img, 2)
		reg.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
			if strings.HasSuffix(r.URL.Path, "/blobs/"+layer) && n < 2 {
				r.Header.Del("Range")
				cutAfter(w, body, len(body)/3*(n+1))
				return true
			}
			return false
		})
		defer reg.setFault(nil)
		if _, err := e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, &recorder{}, WithUnpacker(fs)); err != nil {
			t.Fatal(err)
		}
		if s := fs.last(); !s.committed {
			t.Errorf("not committed")
		}
		rb, err := content.ReadBlob(e.ctx, e.stores.Content, ocispec.Descriptor{Digest: digest.Digest(layer), Size: int64(len(body))})
		if err != nil || string(rb) != string(body) {
			t.Errorf("stored layer differs (%v)", err)
		}
	})
}

// TestChunkReader: the unpack side reads exactly what was pushed, and a
// finished reader never blocks the download.
func TestChunkReader(t *testing.T) {
	q := newChunkReader()
	done := make(chan string)
	go func() {
		b, err := io.ReadAll(q)
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		done <- string(b)
	}()
	for _, s := range []string{"hello ", "", "chunked ", "world"} {
		if err := q.push([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	q.closeWrite(nil)
	if got := <-done; got != "hello chunked world" {
		t.Errorf("read %q", got)
	}

	// The reader stops early with an error: pushes fail at once.
	q = newChunkReader()
	go func() {
		buf := make([]byte, 3)
		_, _ = q.Read(buf)
		q.finish(errors.New("disk full"))
	}()
	var err error
	for i := 0; i < 3 && err == nil; i++ {
		err = q.push([]byte("abcdef"))
	}
	var af *applyFailed
	if !errors.As(err, &af) || isTransient(err) {
		t.Errorf("push after a failed reader: %v", err)
	}

	// A download error reaches the reader.
	q = newChunkReader()
	go q.closeWrite(errors.New("connection reset"))
	if _, err := io.ReadAll(q); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("read error %v", err)
	}
}

// TestPullStreamLocalContent: blobs written straight into the content root
// are verified here, registered in the namespace with their labels, and
// nothing is left in the root on success or failure.
func TestPullStreamLocalContent(t *testing.T) {
	reg := newFaultRegistry(t)
	img := testImage(t, "6.2.0")
	repo := reg.push(t, "local:latest", img)
	layer := layerDigest(t, img, 1)
	body := layerBytes(t, img, 1)
	leftovers := func(t *testing.T, root string) {
		t.Helper()
		m, _ := filepath.Glob(filepath.Join(root, ".occ-ingest-*"))
		if len(m) != 0 {
			t.Errorf("temporary files left: %v", m)
		}
	}

	t.Run("tampered byte", func(t *testing.T) {
		e := newEnv(t)
		reg.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
			if strings.HasSuffix(r.URL.Path, "/blobs/"+layer) {
				b := bytes.Clone(body)
				b[len(b)/2] ^= 0x10
				w.Write(b)
				return true
			}
			return false
		})
		defer reg.setFault(nil)
		fs := newFakeStream()
		_, err := e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, &recorder{}, WithUnpacker(fs), WithLocalContentRoot(e.contentRoot))
		if !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("err = %v", err)
		}
		e.assertClean(t, nil)
		leftovers(t, e.contentRoot)
		if _, err := os.Stat(filepath.Join(e.contentRoot, "blobs", "sha256", strings.TrimPrefix(layer, "sha256:"))); err == nil {
			t.Errorf("tampered blob in the content root")
		}
	})
	t.Run("success", func(t *testing.T) {
		e := newEnv(t)
		fs := newFakeStream()
		res, err := e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, &recorder{}, WithUnpacker(fs), WithLocalContentRoot(e.contentRoot))
		if err != nil || !res.InProcessUnpack {
			t.Fatalf("%v (%+v)", err, res)
		}
		cf, _ := img.ConfigFile()
		for i := range 3 {
			d := digest.Digest(layerDigest(t, img, i))
			info, err := e.stores.Content.Info(e.ctx, d)
			if err != nil || info.Labels[labelUncompressed] != cf.RootFS.DiffIDs[i].String() {
				t.Errorf("layer %d: %v %v", i, info.Labels, err)
			}
			b, err := content.ReadBlob(e.ctx, e.stores.Content, ocispec.Descriptor{Digest: d, Size: info.Size})
			if err != nil || digest.FromBytes(b) != d {
				t.Errorf("layer %d reads back wrong (%v)", i, err)
			}
			// Read-only, as containerd's own content store writes blobs.
			if st, err := os.Stat(filepath.Join(e.contentRoot, "blobs", "sha256", d.Encoded())); err != nil || st.Mode().Perm() != 0o444 {
				t.Errorf("layer %d blob mode %v (%v), want 0444", i, st.Mode(), err)
			}
		}
		got, _ := e.stores.Images.Get(e.ctx, meta.CurrentImageName)
		e.assertClean(t, &got)
		leftovers(t, e.contentRoot)
	})
}

// TestPullStreamForeignContentRoot: a directory that is not the daemon's
// content root (it lacks the config just stored) is not written to.
func TestPullStreamForeignContentRoot(t *testing.T) {
	reg := newFaultRegistry(t)
	repo := reg.push(t, "foreign:latest", testImage(t, "6.3.0"))
	e := newEnv(t)
	foreign := t.TempDir()
	if err := os.MkdirAll(filepath.Join(foreign, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, &recorder{}, WithUnpacker(newFakeStream()), WithLocalContentRoot(foreign))
	if err != nil || !res.InProcessUnpack {
		t.Fatalf("%v (%+v)", err, res)
	}
	var files []string
	_ = filepath.Walk(foreign, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Errorf("wrote into a foreign directory: %v", files)
	}
}

// TestPullStreamSharedBlobs: blobs another namespace already holds are
// shared by containerd, not downloaded, and still applied.
func TestPullStreamSharedBlobs(t *testing.T) {
	reg := newFaultRegistry(t)
	repo := reg.push(t, "shared:latest", testImage(t, "6.4.0"))
	e := newEnv(t)
	if _, err := e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, &recorder{}, WithUnpacker(newFakeStream())); err != nil {
		t.Fatal(err)
	}
	for _, localRoot := range []bool{false, true} {
		e2 := *e
		e2.ctx = namespaces.WithNamespace(context.Background(), fmt.Sprintf("other-%v", localRoot))
		reg.setFault(nil)
		fs := newFakeStream()
		opts := []Option{WithUnpacker(fs)}
		if localRoot {
			opts = append(opts, WithLocalContentRoot(e.contentRoot))
		}
		res, err := e2.pull(Source{Repositories: []string{repo}, Tag: "latest"}, &recorder{}, opts...)
		if err != nil || !res.InProcessUnpack || len(fs.last().applied) != 3 {
			t.Fatalf("localRoot=%v: %v %+v", localRoot, err, res)
		}
		if res.FetchedBytes > 4096 {
			t.Errorf("localRoot=%v: fetched %d bytes of shared blobs", localRoot, res.FetchedBytes)
		}
	}
}

// TestPullStreamAppliesAfterVerify: a layer whose unverified bytes expand
// past the bound (LayerStream.Apply says ErrApplyAfterVerify) is stored,
// which checks its digest, and applied again from the store: a legitimately
// compressible layer still pulls. A registry serving other bytes for it (a
// bomb in place of the layer) fails on the digest, and nothing is applied
// from them.
func TestPullStreamAppliesAfterVerify(t *testing.T) {
	reg := newFaultRegistry(t)
	img := testImage(t, "6.0.7")
	repo := reg.push(t, "deferred:latest", img)
	e := newEnv(t)
	fs := newFakeStream()
	fs.deferLayer = 1
	reg.setFault(nil)
	res, err := e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, &recorder{}, WithUnpacker(fs))
	if err != nil {
		t.Fatal(err)
	}
	s := fs.last()
	if !res.InProcessUnpack || s == nil || !s.committed || len(s.applied) != 3 || !s.verified[1] || s.verified[0] {
		t.Fatalf("InProcessUnpack=%v stream %+v", res.InProcessUnpack, s)
	}
	seen := map[string]bool{}
	for _, r := range reg.requests() {
		if strings.Contains(r, "/blobs/") && seen[r] {
			t.Errorf("blob downloaded twice: %s", r)
		}
		seen[r] = true
	}
	got, _ := e.stores.Images.Get(e.ctx, meta.CurrentImageName)
	e.assertClean(t, &got)

	// The same with the layer's bytes replaced: a digest mismatch.
	img2 := testImage(t, "6.0.8")
	repo2 := reg.push(t, "deferred-bomb:latest", img2)
	bad := layerDigest(t, img2, 1)
	layers, _ := img2.Layers()
	size, _ := layers[1].Size()
	reg.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+bad) {
			return false
		}
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(make([]byte, 1000*size))
		_ = zw.Close()
		bomb := append(b.Bytes(), make([]byte, size)...)[:size] // the declared size, other bytes
		_, _ = w.Write(bomb)
		return true
	})
	fs2 := newFakeStream()
	fs2.deferLayer = 1
	_, err = e.pull(Source{Repositories: []string{repo2}, Tag: "latest"}, &recorder{}, WithUnpacker(fs2))
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("err = %v, want a digest mismatch", err)
	}
	if s := fs2.last(); s == nil || s.verified[1] || !s.aborted {
		t.Errorf("stream %+v", s)
	}
}
