package registry

import (
	"fmt"
	"io"
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
