package registry

import (
	"errors"
	"net/http"
	"sync"
	"time"
)

// retryAfterRecorder remembers the Retry-After of the last 429 or 5xx
// response it saw. go-containerregistry's handshake (the /v2/ ping and the
// token request) returns a transport.Error that carries the status but not
// the headers, so without it a registry asking occ to come back in N
// seconds on the ping got the plain backoff instead.
type retryAfterRecorder struct {
	inner http.RoundTripper
	mu    sync.Mutex
	last  time.Duration
}

func (r *retryAfterRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.inner.RoundTrip(req)
	if err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500) {
		if d := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); d > 0 {
			r.mu.Lock()
			r.last = d
			r.mu.Unlock()
		}
	}
	return resp, err
}

// take returns the last Retry-After seen and forgets it.
func (r *retryAfterRecorder) take() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.last
	r.last = 0
	return d
}

// withRetryAfter gives a transient status error the server's Retry-After
// when it carries none of its own.
func withRetryAfter(err error, d time.Duration) error {
	var se *httpStatusError
	if d > 0 && errors.As(err, &se) && se.retryAfter == 0 {
		se.retryAfter = d
	}
	return err
}
