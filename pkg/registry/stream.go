package registry

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// labelUncompressed is the content label containerd's unpacker sets on a
// layer blob once its uncompressed digest is verified.
const labelUncompressed = "containerd.io/uncompressed"

// The streaming path: every layer is one pipeline, several layers at once
// (WithConcurrency):
//
//	HTTP body ─► 2 MiB chunks ─┬─► containerd content Writer (the daemon checks size and digest at Commit)
//	                           └─► LayerStream.Apply: decompress ─► sha256 (must equal the diff ID) ─► untar into a snapshot
//
// A layer's snapshot is committed only after its blob is committed (so
// verified) and its diff ID matched; all snapshots are committed in chain
// order at the end. A failure anywhere aborts the ingest and removes every
// snapshot the pull made; the lease goes as on the other path.

// streamLayers fetches and applies the manifest's layers (the index,
// manifest and config are already stored). ok is false when the unpacker
// cannot apply this image in-process (nothing was done: use the other path).
func (p *puller) streamLayers(ctx context.Context, rc *repoClient, su StreamUnpacker, manifest ocispec.Manifest) (ok bool, err error) {
	cs := p.stores.Content
	cfgBytes, err := content.ReadBlob(ctx, cs, manifest.Config)
	if err != nil {
		return false, local(fmt.Errorf("reading the image config: %w", err))
	}
	var cfg struct {
		RootFS ocispec.RootFS `json:"rootfs"`
	}
	if err := json.Unmarshal(cfgBytes, &cfg); err != nil {
		return false, fmt.Errorf("image config %s is not valid JSON: %w", manifest.Config.Digest, errors.Join(errdefs.ErrInvalidArgument, err))
	}
	if len(cfg.RootFS.DiffIDs) != len(manifest.Layers) {
		return false, fmt.Errorf("image config %s lists %d layer digests for %d layers: %w", manifest.Config.Digest, len(cfg.RootFS.DiffIDs), len(manifest.Layers), errdefs.ErrInvalidArgument)
	}
	ls, err := su.StartStream(ctx, manifest.Config, manifest.Layers, cfg.RootFS.DiffIDs)
	if errdefs.IsNotImplemented(err) {
		p.streamSkip = err.Error()
		return false, nil
	}
	if err != nil {
		return false, local(fmt.Errorf("preparing the unpack: %w", err))
	}

	// Blobs go straight into the content root only when it is the
	// daemon's: the config just stored through the content API must be
	// there.
	localRoot := p.o.localContent
	if localRoot != "" && !inContentRoot(localRoot, manifest.Config) {
		localRoot = ""
	}
	if localRoot != "" {
		// What killed pulls left there.
		RemoveStaleIngests(localRoot, StaleIngestAge)
	}

	// At most p.o.concurrency layers download and apply at once, taken in
	// manifest order. A layer gives its slot back as soon as its bytes are
	// in (release), before its blob's fsync and registration: the next
	// layer's download then overlaps the disk write instead of waiting
	// for it with the CPUs idle.
	eg, gctx := errgroup.WithContext(ctx)
	slots := make(chan struct{}, p.o.concurrency)
	for i, desc := range manifest.Layers {
		if err := desc.Digest.Validate(); err != nil {
			_ = eg.Wait()
			ls.Abort(ctx)
			return false, fmt.Errorf("blob digest %q: %w", desc.Digest, errors.Join(errdefs.ErrInvalidArgument, err))
		}
		select {
		case slots <- struct{}{}:
		case <-gctx.Done():
		}
		if gctx.Err() != nil {
			break
		}
		eg.Go(func() error {
			release := sync.OnceFunc(func() { <-slots })
			defer release()
			return p.streamLayer(gctx, rc, ls, localRoot, i, desc, cfg.RootFS.DiffIDs[i], release)
		})
	}
	err = eg.Wait()
	if err == nil && ctx.Err() != nil { // cancelled while waiting for a slot
		err = ctx.Err()
	}
	if err != nil {
		ls.Abort(ctx)
		return false, err
	}
	if err := ls.Commit(ctx); err != nil {
		ls.Abort(ctx)
		return false, local(fmt.Errorf("unpacking into the snapshotter: %w", err))
	}
	return true, nil
}

// streamLayer gets layer i into the content store and its snapshot, doing
// only what is missing. release gives the layer's concurrency slot back
// early (see streamLayers).
func (p *puller) streamLayer(ctx context.Context, rc *repoClient, ls LayerStream, localRoot string, i int, desc ocispec.Descriptor, diffID digest.Digest, release func()) error {
	cs := p.stores.Content
	p.emit(Event{Kind: EventBlobStart, Repository: p.repoLabel, Digest: desc.Digest, Size: desc.Size, MediaType: desc.MediaType})
	_, infoErr := cs.Info(ctx, desc.Digest)
	have := infoErr == nil
	var err error
	switch {
	case ls.Present(i) && have:
	case ls.Present(i):
		have, err = rc.fetchBlob(ctx, p, desc)
		err = remoteOrLocal(err)
	case have:
		err = p.applyStored(ctx, ls, localRoot, i, desc, diffID)
	default:
		have, err = rc.fetchApply(ctx, p, ls, localRoot, i, desc, diffID, release)
	}
	if err != nil {
		return err
	}
	if have {
		p.reused.Add(desc.Size)
	}
	p.emit(Event{Kind: EventBlobDone, Repository: p.repoLabel, Digest: desc.Digest, Size: desc.Size, MediaType: desc.MediaType, Reused: have})
	return nil
}

func remoteOrLocal(err error) error {
	if err == nil {
		return nil
	}
	var le *localError
	if errors.As(err, &le) {
		return err
	}
	return &remoteError{err}
}

// applyErr classifies a LayerStream.Apply failure: bytes that do not
// match the config are the registry's fault, anything else is local.
func applyErr(err error) error {
	var re *remoteError
	if errors.As(err, &re) {
		return err
	}
	if errdefs.IsDataLoss(err) {
		return &remoteError{fmt.Errorf("%w (%w)", err, ErrDigestMismatch)}
	}
	return local(err)
}

// applyStored applies a layer whose blob is already in the content store.
// With the daemon's content root on this host the blob's file is read
// directly; otherwise through the content API in large reads (each read is
// a round trip, and the decompressors ask for 4 KiB at a time: measured,
// 224 MiB of layers cost containerd 12 s of CPU that way).
func (p *puller) applyStored(ctx context.Context, ls LayerStream, localRoot string, i int, desc ocispec.Descriptor, diffID digest.Digest) error {
	cs := p.stores.Content
	var r io.ReadCloser
	if localRoot != "" {
		if f, err := openInContentRoot(localRoot, desc); err == nil {
			r = f
		}
	}
	if r == nil {
		ra, err := cs.ReaderAt(ctx, desc)
		if err != nil {
			return local(fmt.Errorf("reading blob %s: %w", desc.Digest, err))
		}
		r = readCloser{content.NewReader(ra), ra}
	}
	defer r.Close()
	// The Reader alone (no ReadByte, see chunkReader).
	br := struct{ io.Reader }{bufio.NewReaderSize(r, storedReadSize)}
	if err := ls.Apply(ctx, i, br, true); err != nil {
		return applyErr(err)
	}
	return labelUncompressedDigest(ctx, cs, desc.Digest, diffID)
}

// storedReadSize is the read size for a blob already in the content store.
const storedReadSize = 1 << 20

type readCloser struct {
	io.Reader
	io.Closer
}

func labelUncompressedDigest(ctx context.Context, cs content.Store, d, diffID digest.Digest) error {
	if _, err := cs.Update(ctx, content.Info{Digest: d, Labels: map[string]string{labelUncompressed: diffID.String()}}, "labels."+labelUncompressed); err != nil {
		return local(fmt.Errorf("labelling blob %s: %w", d, err))
	}
	return nil
}

// fetchApply downloads a layer into the content store and, from the same
// bytes as they arrive, applies it. reused is true when another writer
// stored the blob first (it is then applied from the store).
func (c *repoClient) fetchApply(ctx context.Context, p *puller, ls LayerStream, localRoot string, i int, desc ocispec.Descriptor, diffID digest.Digest, release func()) (reused bool, err error) {
	var in blobIngest
	if localRoot != "" && !inContentRoot(localRoot, desc) {
		in, err = newLocalIngest(ctx, p.stores.Content, localRoot, desc)
	} else { // the daemon may share the blob from another namespace
		in, err = newRemoteIngest(ctx, p.stores.Content, desc)
	}
	if errdefs.IsAlreadyExists(err) {
		return true, p.applyStored(ctx, ls, localRoot, i, desc, diffID)
	}
	if err != nil {
		return false, local(err)
	}
	defer in.close()

	q := newChunkReader()
	applied := make(chan error, 1)
	go func() {
		err := ls.Apply(ctx, i, q, false)
		q.finish(err)
		applied <- err
	}()
	tw := &teeWriter{w: in, q: q}
	ferr := c.fetchBlobInto(ctx, p, tw, desc)
	q.closeWrite(ferr)
	aerr := <-applied
	release() // the bytes are in: commit (fsync) beside the next layer's download
	var af *applyFailed
	switch {
	case ferr != nil && !errors.As(ferr, &af): // the download failed first
		in.abort()
		return false, remoteOrLocal(ferr)
	case aerr != nil && ferr == nil && errors.Is(aerr, ErrApplyAfterVerify):
		// The layer expands more than unverified bytes may write (a
		// decompression bomb, or a legitimately very compressible layer):
		// store the blob, which verifies its digest, then apply it from
		// the store.
		if err := in.commit(ctx, map[string]string{labelUncompressed: diffID.String()}); err != nil {
			in.abort()
			return false, err
		}
		return false, p.applyStored(ctx, ls, localRoot, i, desc, diffID)
	case aerr != nil:
		in.abort()
		return false, applyErr(aerr)
	case ferr != nil:
		in.abort()
		return false, remoteOrLocal(ferr)
	}
	if err := in.commit(ctx, map[string]string{labelUncompressed: diffID.String()}); err != nil {
		in.abort()
		return false, err
	}
	return false, nil
}

// ErrApplyAfterVerify is what LayerStream.Apply returns (wrapped) when a
// layer's unverified bytes expand past the bound on what they may write:
// Apply has read them to the end and written nothing that stays; the
// layer is applied again from the content store once its blob is stored,
// so verified.
var ErrApplyAfterVerify = errors.New("the layer expands too much to be unpacked before its digest is verified")

// blobIngest is where a layer's compressed bytes go: containerd's content
// Writer (remoteIngest), or a file in the daemon's content root that is
// then registered (localIngest, see localcontent.go).
type blobIngest interface {
	blobSink
	// commit verifies and stores the blob with labels; its errors are
	// classified (remote or local).
	commit(ctx context.Context, labels map[string]string) error
	abort()
	close()
}

type remoteIngest struct {
	content.Writer
	cs   content.Store
	ctx  context.Context
	ref  string
	desc ocispec.Descriptor
}

// newRemoteIngest opens containerd's content Writer for desc. It returns
// errdefs.ErrAlreadyExists when the blob is now in the namespace without a
// download: it was there, or containerd shares it from another namespace
// (the writer then reports every byte written), or an earlier pull left a
// complete ingest that verifies.
func newRemoteIngest(ctx context.Context, cs content.Store, desc ocispec.Descriptor) (*remoteIngest, error) {
	ref := "occ-pull-" + desc.Digest.String()
	w, err := content.OpenWriter(ctx, cs, content.WithRef(ref), content.WithDescriptor(desc))
	if errdefs.IsAlreadyExists(err) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("opening a content store writer for %s: %w", desc.Digest, err)
	}
	st, err := w.Status()
	if err == nil && st.Offset == desc.Size && desc.Size > 0 {
		cerr := w.Commit(ctx, desc.Size, desc.Digest)
		if cerr == nil || errdefs.IsAlreadyExists(cerr) {
			w.Close()
			return nil, errdefs.ErrAlreadyExists
		}
		// Not a blob that verifies: start from scratch.
		w.Close()
		_ = cs.Abort(context.WithoutCancel(ctx), ref)
		if w, err = content.OpenWriter(ctx, cs, content.WithRef(ref), content.WithDescriptor(desc)); err != nil {
			return nil, fmt.Errorf("opening a content store writer for %s: %w", desc.Digest, err)
		}
		st, err = w.Status()
	}
	// The decompressor must see the blob from its first byte: drop what
	// an earlier, interrupted pull left in this ingest.
	if err == nil && st.Offset > 0 {
		if err := w.Truncate(0); err != nil {
			w.Close()
			return nil, fmt.Errorf("restarting blob %s: %w", desc.Digest, err)
		}
	}
	return &remoteIngest{Writer: w, cs: cs, ctx: ctx, ref: ref, desc: desc}, nil
}

func (r *remoteIngest) abort() { _ = r.cs.Abort(context.WithoutCancel(r.ctx), r.ref) }
func (r *remoteIngest) close() { _ = r.Writer.Close() }

func (r *remoteIngest) commit(ctx context.Context, labels map[string]string) error {
	return commitWriter(ctx, r.cs, r.Writer, r.desc, labels)
}

// commitWriter commits w as desc with labels, classifying the failure.
func commitWriter(ctx context.Context, cs content.Store, w content.Writer, desc ocispec.Descriptor, labels map[string]string) error {
	if err := w.Commit(ctx, desc.Size, desc.Digest, content.WithLabels(labels)); err != nil {
		if errdefs.IsAlreadyExists(err) {
			if _, err := cs.Update(ctx, content.Info{Digest: desc.Digest, Labels: labels}, labelFields(labels)...); err != nil {
				return local(fmt.Errorf("labelling blob %s: %w", desc.Digest, err))
			}
			return nil
		}
		if errdefs.IsFailedPrecondition(err) {
			return &remoteError{fmt.Errorf("blob %s failed verification (%v): %w", desc.Digest, err, ErrDigestMismatch)}
		}
		return local(fmt.Errorf("storing blob %s: %w", desc.Digest, err))
	}
	return nil
}

func labelFields(labels map[string]string) []string {
	var f []string
	for k := range labels {
		f = append(f, "labels."+k)
	}
	return f
}

// applyFailed is the unpack side of a layer pipeline giving up: the
// download stops and is not retried.
type applyFailed struct{ err error }

func (e *applyFailed) Error() string { return "unpacking stopped: " + e.err.Error() }
func (e *applyFailed) Unwrap() error { return e.err }

// teeWriter writes each chunk to the content store and hands it to the
// unpack at the same time. After a restart from offset 0 (a registry that
// ignores Range) the bytes the unpack already has are not handed over
// again; the content store's digest check and the diff ID check see to it
// that both sides got the same bytes.
type teeWriter struct {
	w    blobSink
	q    *chunkReader
	pos  int64 // bytes in the content store
	sent int64 // bytes handed to the unpack
}

func (t *teeWriter) Status() (content.Status, error) {
	st, err := t.w.Status()
	if err == nil {
		t.pos = st.Offset
	}
	return st, err
}

func (t *teeWriter) Truncate(n int64) error {
	if err := t.w.Truncate(n); err != nil {
		return err
	}
	t.pos = n
	return nil
}

func (t *teeWriter) Write(b []byte) (int, error) {
	var pushed chan error
	end := t.pos + int64(len(b))
	if end > t.sent {
		part := b[max(t.sent-t.pos, 0):]
		pushed = make(chan error, 1)
		go func() { pushed <- t.q.push(part) }()
	}
	n, err := t.w.Write(b)
	t.pos += int64(n)
	if pushed != nil {
		if perr := <-pushed; perr != nil {
			return n, perr
		}
		t.sent = end
	}
	return n, err
}

// chunkReader is the unpack's end of a layer pipeline: an io.Reader over
// the chunks the download pushes, without copying them. push returns once
// the chunk is consumed, so the download can reuse its buffer. It has no
// ReadByte on purpose: klauspost's inflater then reads through its own
// bufio.Reader with a specialised decoder loop, measured about 3x faster
// than calling ReadByte through an interface (BenchmarkGunzip in
// pkg/runtime).
type chunkReader struct {
	ch   chan []byte
	ack  chan struct{}
	done chan struct{}
	cur  []byte
	held bool

	mu   sync.Mutex
	werr error // why the download ended (io.EOF: complete)
	rerr error // why the unpack ended (nil: it read all it needed)
}

func newChunkReader() *chunkReader {
	return &chunkReader{ch: make(chan []byte), ack: make(chan struct{}, 1), done: make(chan struct{})}
}

// push hands b to the reader and waits until it is consumed; once the
// unpack has finished it returns at once (with the unpack's error, if any).
func (q *chunkReader) push(b []byte) error {
	select {
	case q.ch <- b:
	case <-q.done:
		return q.readerErr()
	}
	select {
	case <-q.ack:
		return nil
	case <-q.done:
		return q.readerErr()
	}
}

func (q *chunkReader) readerErr() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.rerr != nil {
		return &applyFailed{q.rerr}
	}
	return nil
}

// closeWrite ends the stream: err nil is a complete blob (EOF).
func (q *chunkReader) closeWrite(err error) {
	q.mu.Lock()
	if err == nil {
		err = io.EOF
	} else {
		err = fmt.Errorf("download failed: %w", err)
	}
	q.werr = err
	q.mu.Unlock()
	close(q.ch)
}

// finish is called by the unpack when it returns; later pushes are
// dropped.
func (q *chunkReader) finish(err error) {
	q.mu.Lock()
	q.rerr = err
	q.mu.Unlock()
	close(q.done)
}

// consumed acknowledges a chunk as soon as its last byte is read.
func (q *chunkReader) consumed() {
	if len(q.cur) == 0 && q.held {
		q.held = false
		q.ack <- struct{}{}
	}
}

func (q *chunkReader) next() error {
	for len(q.cur) == 0 {
		q.consumed()
		b, ok := <-q.ch
		if !ok {
			q.mu.Lock()
			defer q.mu.Unlock()
			return q.werr
		}
		q.cur, q.held = b, true
	}
	return nil
}

func (q *chunkReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := q.next(); err != nil {
		return 0, err
	}
	n := copy(p, q.cur)
	q.cur = q.cur[n:]
	q.consumed()
	return n, nil
}
