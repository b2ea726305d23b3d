package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// defaultStallTimeout is how long a registry may keep a pull waiting for
// response headers or for the next bytes of a body before the request is
// given up as stalled (and retried like any transient failure).
const defaultStallTimeout = 30 * time.Second

// WithStallTimeout sets how long a registry may send nothing, for the
// headers of a response or within its body, before the request counts as
// failed and is retried (default 30s). Without it a registry that stops
// sending mid-blob would hold the pull, and occ's lock, forever.
func WithStallTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.stallTimeout = d
		}
	}
}

// stallError is a response that sent nothing for too long.
type stallError struct{ d time.Duration }

func (e *stallError) Error() string {
	return fmt.Sprintf("the registry sent nothing for %s (stalled connection)", e.d)
}
func (e *stallError) Timeout() bool   { return true }
func (e *stallError) Temporary() bool { return true }

// stallReader closes its body when no byte arrived for d, so a blocked
// Read returns; the read then fails with a stallError.
type stallReader struct {
	rc    io.ReadCloser
	d     time.Duration
	t     *time.Timer
	fired atomic.Bool
}

func (o *options) watchStall(rc io.ReadCloser) io.ReadCloser {
	d := o.stallTimeout
	if d <= 0 {
		return rc
	}
	s := &stallReader{rc: rc, d: d}
	s.t = time.AfterFunc(d, func() {
		s.fired.Store(true)
		_ = rc.Close()
	})
	return s
}

func (s *stallReader) Read(b []byte) (int, error) {
	n, err := s.rc.Read(b)
	if n > 0 && !s.fired.Load() {
		s.t.Reset(s.d)
	}
	if err != nil && s.fired.Load() {
		return n, &stallError{s.d}
	}
	return n, err
}

func (s *stallReader) Close() error {
	s.t.Stop()
	return s.rc.Close()
}

// watchTransport is the innermost transport of a pull, below
// go-containerregistry's auth: every response body is watched for stalls
// (watchStall), and the status and headers of a response are handed to
// the request's respHint, since go-containerregistry's remote.Get returns
// neither (the manifest path needs Retry-After and Docker-Content-Digest).
type watchTransport struct {
	inner http.RoundTripper
	o     *options
}

func (t *watchTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if h, ok := r.Context().Value(respHintKey{}).(*respHint); ok {
		h.last.Store(&respSeen{status: resp.StatusCode, header: resp.Header.Clone()})
	}
	resp.Body = t.o.watchStall(resp.Body)
	return resp, nil
}

// respHint holds the last response a request's context saw.
type respHint struct{ last atomic.Pointer[respSeen] }

type respSeen struct {
	status int
	header http.Header
}

type respHintKey struct{}

func withRespHint(ctx context.Context, h *respHint) context.Context {
	return context.WithValue(ctx, respHintKey{}, h)
}

// header is the last response's header value k ("" when none was seen).
func (h *respHint) header(k string) string {
	if s := h.last.Load(); s != nil {
		return s.header.Get(k)
	}
	return ""
}

// retryAfter is the last response's Retry-After, when it was a 429 or 5xx.
func (h *respHint) retryAfter() time.Duration {
	s := h.last.Load()
	if s == nil || s.status != http.StatusTooManyRequests && s.status < 500 {
		return 0
	}
	return parseRetryAfter(s.header.Get("Retry-After"), time.Now())
}
