package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Parallel ranged fetch of large blobs.
//
// Over a real network one HTTP connection is bound by what the path and
// the registry's CDN allow per connection (tens of MB/s), whatever the CPU
// could do. A large layer is then fetched as several byte ranges at once,
// and the ranges are written in order into the same sink as a single
// stream (the content store and, on the streaming path, the unpack), so
// verification and unpack still run beside the download:
//
//	GET Range 0..c-1 ─┐
//	GET Range c..2c-1 ─┼─► chunks in order ─► blobSink (content store + unpack)
//	GET Range ...     ─┘   (at most width chunks held per blob)
//
// The first range of every blob is the probe: a registry that answers it
// with 200 (no Range support) or 416 is remembered and served by the
// single-stream path instead, and so is a blob whose first range came at
// fastRate or more (loopback, a LAN mirror: one stream is as fast there
// and holds no range buffers). Each range is retried on its own, resuming
// where its bytes stopped.

// rangedConfig says when and how a blob is fetched in parallel ranges.
type rangedConfig struct {
	// chunk is the bytes per range request; 0 turns ranged fetch off.
	chunk int64
	// width is the range requests in flight (and chunks held) per blob.
	width int
	// minSize: smaller blobs go in one stream.
	minSize int64
	// fastRate, bytes/s: a first range that came at least this fast (its
	// request to its last byte) sends the rest in one stream. 0: never.
	fastRate float64
	// noRange holds the registries seen without Range support in this
	// pull: their blobs are not probed again.
	noRange *sync.Map
	// budget bounds the range buffers held at once over all the pull's
	// blobs (a token per range from before its request until it is
	// written). Every token belongs to a range already asked for, which
	// completes and is written in its blob's order, so blobs waiting for
	// tokens cannot hold each other up.
	budget chan struct{}
}

// Defaults, from hack/bench table on the shaped network profiles
// (docs/performance.md): 2 MiB ranges, 4 at a time per layer and 8 in all
// (16 MiB of buffers), for layers of 16 MiB and more, unless the first
// range came at 200 MB/s or more.
const (
	defaultRangeChunk    = 2 << 20
	defaultRangeWidth    = 4
	defaultRangeBudget   = 8
	defaultRangeMinSize  = 16 << 20
	defaultRangeFastRate = 200e6
)

// defaultRanged is the default configuration. OCC_PULL_RANGE_CHUNK (bytes,
// 0 = off), OCC_PULL_RANGE_WIDTH, OCC_PULL_RANGE_FAST (bytes/s, 0 = ranges
// however fast the first one came) and OCC_PULL_RANGE_MIN (bytes) override
// it, for measuring and for the chaos suite; they are not meant for users.
func defaultRanged() rangedConfig {
	c := rangedConfig{chunk: defaultRangeChunk, width: defaultRangeWidth, minSize: defaultRangeMinSize,
		fastRate: defaultRangeFastRate, noRange: &sync.Map{}, budget: make(chan struct{}, defaultRangeBudget)}
	if v, err := strconv.ParseInt(os.Getenv("OCC_PULL_RANGE_CHUNK"), 10, 64); err == nil && v >= 0 {
		c.chunk = v
		c.minSize = max(c.minSize, 2*v)
	}
	if v, err := strconv.Atoi(os.Getenv("OCC_PULL_RANGE_WIDTH")); err == nil && v > 0 {
		c.width = v
	}
	if v, err := strconv.ParseFloat(os.Getenv("OCC_PULL_RANGE_FAST"), 64); err == nil && v >= 0 {
		c.fastRate = v
	}
	if v, err := strconv.ParseInt(os.Getenv("OCC_PULL_RANGE_MIN"), 10, 64); err == nil && v >= 0 {
		c.minSize = v
	}
	return c
}

// WithRangedFetch fetches blobs of at least minSize bytes as chunk-byte
// ranges, width at a time, where the registry serves ranges, however fast
// the link. By default blobs of 16 MiB and more go in 2 MiB ranges, 4 at a
// time, unless their first range came at 200 MB/s or more. chunk 0 or
// width 1 fetches every blob in one stream.
func WithRangedFetch(minSize, chunk int64, width int) Option {
	return func(o *options) {
		o.ranged = rangedConfig{chunk: max(chunk, 0), width: max(width, 1), minSize: minSize, noRange: &sync.Map{},
			budget: make(chan struct{}, 2*max(width, 1))}
	}
}

// withRangedFastRate sets the rate of a first range above which the rest
// of the blob goes in one stream (tests).
func withRangedFastRate(r float64) Option {
	return func(o *options) {
		o.ranged.fastRate = r
	}
}

// errNoRange is a registry that does not serve byte ranges.
var errNoRange = errors.New("the registry does not serve byte ranges")

// errFastLink is a first range that came fast enough for one stream.
var errFastLink = errors.New("the first range came fast enough for one stream")

// rangeBufs pools range buffers by size.
var rangeBufs sync.Map // int64 -> *sync.Pool

func getRangeBuf(n int64) *[]byte {
	pl, _ := rangeBufs.LoadOrStore(n, &sync.Pool{New: func() any { b := make([]byte, n); return &b }})
	return pl.(*sync.Pool).Get().(*[]byte)
}

func putRangeBuf(n int64, b *[]byte) {
	if pl, ok := rangeBufs.Load(n); ok {
		pl.(*sync.Pool).Put(b)
	}
}

// rangedFor says whether desc is fetched in ranges from this repository.
func (c *repoClient) rangedFor(p *puller, desc ocispec.Descriptor) bool {
	r := p.o.ranged
	if r.chunk <= 0 || r.width < 2 || desc.Size < r.minSize || desc.Size <= r.chunk {
		return false
	}
	_, no := r.noRange.Load(c.repo.RegistryStr())
	return !no
}

// fetchBlobInto appends the rest of desc to w: in parallel ranges when
// the blob is large and the registry serves ranges, else in one stream
// (with retries and resume either way).
func (c *repoClient) fetchBlobInto(ctx context.Context, p *puller, w blobSink, desc ocispec.Descriptor) error {
	if c.rangedFor(p, desc) {
		err := c.fetchRanged(ctx, p, w, desc)
		switch {
		case errors.Is(err, errNoRange):
			p.o.ranged.noRange.Store(c.repo.RegistryStr(), true)
		case !errors.Is(err, errFastLink):
			return err
		}
	}
	return p.retry(ctx, desc.Digest, func() error { return c.streamBlobRestarting(ctx, p, w, desc) })
}

// rangePart is one range of a blob: [off, end).
type rangePart struct {
	off, end int64
	buf      *[]byte
	done     chan error
}

// fetchRanged appends desc to w from where w is, in ranges of
// p.o.ranged.chunk bytes, p.o.ranged.width at a time, written in order.
// It returns errNoRange, with nothing written, when the registry does not
// serve the first range, and errFastLink, with the first range written,
// when that came at fastRate or more: the caller goes on in one stream.
func (c *repoClient) fetchRanged(ctx context.Context, p *puller, w blobSink, desc ocispec.Descriptor) error {
	cfg := p.o.ranged
	st, err := w.Status()
	if err != nil {
		return fmt.Errorf("content store status of %s: %w", desc.Digest, err)
	}
	start := st.Offset
	if start >= desc.Size {
		return nil // all bytes are in; the commit verifies them
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	slots := make(chan struct{}, cfg.width)
	parts := make(chan *rangePart, cfg.width)
	probed := make(chan bool, 1) // the first range came in full, slowly enough for ranges
	fast := false
	go func() {
		defer close(parts)
		for off := start; off < desc.Size; off += cfg.chunk {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case cfg.budget <- struct{}{}:
			case <-ctx.Done():
				<-slots
				return
			}
			pt := &rangePart{off: off, end: min(off+cfg.chunk, desc.Size), buf: getRangeBuf(cfg.chunk), done: make(chan error, 1)}
			first := off == start
			go func() {
				var ok func(time.Duration)
				if first {
					var once sync.Once
					ok = func(took time.Duration) {
						once.Do(func() {
							rate := float64(pt.end-pt.off) / took.Seconds()
							fast = cfg.fastRate > 0 && rate >= cfg.fastRate
							probed <- !fast
						})
					}
					defer once.Do(func() { probed <- false })
				}
				pt.done <- c.fetchRange(ctx, p, desc, pt, first, ok)
			}()
			parts <- pt
			// The other ranges only once the first came in full, and
			// slowly enough for ranges to help.
			if first && !<-probed {
				return
			}
		}
	}()

	pw := &progressWriter{w: w, p: p, desc: desc, offset: start}
	var werr error
	for pt := range parts {
		err := <-pt.done
		if werr == nil && err != nil {
			werr = err
			cancel()
		}
		if werr == nil {
			// In writes of at most chunkSize (see its comment: larger
			// buffered writes are slow on ext4 on these kernels).
			b := (*pt.buf)[:pt.end-pt.off]
			for len(b) > 0 && werr == nil {
				n := min(len(b), chunkSize)
				_, werr = pw.Write(b[:n])
				b = b[n:]
			}
			if werr != nil {
				cancel()
			}
		}
		putRangeBuf(cfg.chunk, pt.buf)
		<-cfg.budget
		<-slots
	}
	if werr == nil && fast && pw.offset < desc.Size {
		return errFastLink
	}
	if werr == nil && pw.offset < desc.Size {
		// Cancelled before every range was started.
		if err := ctx.Err(); err != nil {
			return err
		}
		return &truncatedError{dgst: desc.Digest, got: pw.offset, want: desc.Size}
	}
	return werr
}

// fetchRange reads pt's range into its buffer, retrying transient failures
// and resuming from the last byte received. probe is the blob's first
// range: a 200 or 416 answer to it is errNoRange; ok is called with the
// time its last attempt took, request to last byte, once it is in.
func (c *repoClient) fetchRange(ctx context.Context, p *puller, desc ocispec.Descriptor, pt *rangePart, probe bool, ok func(time.Duration)) error {
	buf := (*pt.buf)[:pt.end-pt.off]
	got := 0
	return p.retry(ctx, desc.Digest, func() error {
		off := pt.off + int64(got)
		t0 := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("blobs", desc.Digest.String()), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, pt.end-1))
		resp, err := c.client.Do(req)
		if err != nil {
			return err
		}
		resp.Body = p.o.watchStall(resp.Body)
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusPartialContent:
		case http.StatusOK, http.StatusRequestedRangeNotSatisfiable:
			if probe && got == 0 {
				return errNoRange
			}
			// It served the first range: a 200 now is a registry (or a
			// mirror behind one name) that changed its mind; start over.
			return fmt.Errorf("blob %s: the registry answered a range request with %s: %w", desc.Digest, resp.Status, errNoRange)
		default:
			return statusError(resp, "blob "+desc.Digest.String())
		}
		var first, last, total int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/%d", &first, &last, &total); err != nil ||
			first != off || last != pt.end-1 || (total != desc.Size && total != 0) {
			if _, err2 := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/*", &first, &last); err2 != nil || first != off || last != pt.end-1 {
				// Not the range asked for: its ranges are not to be
				// trusted; the rest comes in one stream.
				return fmt.Errorf("blob %s: the registry answered the range %d-%d with Content-Range %q: %w", desc.Digest, off, pt.end-1, resp.Header.Get("Content-Range"), errNoRange)
			}
		}
		if cl := resp.ContentLength; cl >= 0 && cl != pt.end-off {
			return fmt.Errorf("blob %s: the registry sends %d bytes for the range %d-%d: %w", desc.Digest, cl, off, pt.end-1, ErrDigestMismatch)
		}
		for got < len(buf) {
			n, err := resp.Body.Read(buf[got:])
			got += n
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		if got < len(buf) {
			return &truncatedError{dgst: desc.Digest, got: pt.off + int64(got), want: pt.end}
		}
		if probe && ok != nil {
			ok(time.Since(t0))
		}
		return nil
	})
}

// streamBlobOrRanges is streamBlob for fetchBlob's retry loop: a large
// blob from a registry that serves ranges is fetched in ranges (each
// range retried on its own; a range that still fails ends this attempt,
// and the next one resumes after the bytes written).
func (c *repoClient) streamBlobOrRanges(ctx context.Context, p *puller, w blobSink, desc ocispec.Descriptor) error {
	if c.rangedFor(p, desc) {
		err := c.fetchRanged(ctx, p, w, desc)
		switch {
		case errors.Is(err, errNoRange):
			p.o.ranged.noRange.Store(c.repo.RegistryStr(), true)
		case !errors.Is(err, errFastLink):
			return err
		}
	}
	return c.streamBlob(ctx, p, w, desc)
}
