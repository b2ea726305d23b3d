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
// (watchStall), and the Retry-After of a 429 or 5xx is handed to the
// request's retryHint, since go-containerregistry's errors do not carry
// response headers.
type watchTransport struct {
	inner http.RoundTripper
	o     *options
}

func (t *watchTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		if h, ok := r.Context().Value(retryHintKey{}).(*retryHint); ok {
			h.after.Store(int64(parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())))
		}
	}
	resp.Body = t.o.watchStall(resp.Body)
	return resp, nil
}

// retryHint carries a response's Retry-After from watchTransport to the
// code that classifies the request's error.
type retryHint struct{ after atomic.Int64 }

type retryHintKey struct{}

func withRetryHint(ctx context.Context, h *retryHint) context.Context {
	return context.WithValue(ctx, retryHintKey{}, h)
}

func (h *retryHint) get() time.Duration { return time.Duration(h.after.Load()) }
