package registry

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
)

type closeRecorder struct{ closed bool }

func (c *closeRecorder) Close() error { c.closed = true; return nil }

type failWriter struct {
	n   int
	err error
	buf bytes.Buffer
}

func (w *failWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.n {
		k := w.n - w.buf.Len()
		w.buf.Write(p[:k])
		return k, w.err
	}
	return w.buf.Write(p)
}

func TestPipeCopy(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), (5*chunkSize)/16+7) // several chunks and a tail
	boom := errors.New("boom")
	tests := []struct {
		name    string
		r       io.Reader
		w       *failWriter
		wantN   int
		wantErr error
	}{
		{name: "all", r: bytes.NewReader(data), w: &failWriter{n: len(data) + 1}, wantN: len(data)},
		{name: "small reads are gathered", r: iotest.OneByteReader(bytes.NewReader(data[:chunkSize+3])), w: &failWriter{n: len(data)}, wantN: chunkSize + 3},
		{name: "empty", r: strings.NewReader(""), w: &failWriter{n: 1}, wantN: 0},
		{name: "read error after data", r: io.MultiReader(bytes.NewReader(data[:100]), iotest.ErrReader(io.ErrUnexpectedEOF)), w: &failWriter{n: len(data)}, wantN: 100, wantErr: io.ErrUnexpectedEOF},
		{name: "write error stops the copy", r: bytes.NewReader(data), w: &failWriter{n: chunkSize + 10, err: boom}, wantN: chunkSize + 10, wantErr: boom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &closeRecorder{}
			n, err := pipeCopy(tc.w, tc.r, c)
			if int(n) != tc.wantN || !errors.Is(err, tc.wantErr) {
				t.Fatalf("pipeCopy = %d, %v; want %d, %v", n, err, tc.wantN, tc.wantErr)
			}
			if !bytes.Equal(tc.w.buf.Bytes(), data[:tc.wantN]) {
				t.Errorf("written bytes differ")
			}
			if !c.closed {
				t.Errorf("body not closed")
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestIsTransient(t *testing.T) {
	urlErr := func(err error) error { return &url.Error{Op: "Get", URL: "https://r.example/v2/", Err: err} }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"reset", urlErr(&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), true},
		{"unexpected EOF", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		{"timeout", urlErr(timeoutErr{}), true},
		{"truncated", &truncatedError{got: 1, want: 2}, true},
		{"503", &httpStatusError{status: 503}, true},
		{"429", &httpStatusError{status: 429}, true},
		{"408", &httpStatusError{status: 408}, true},
		{"404", &httpStatusError{status: 404}, false},
		{"401", &httpStatusError{status: 401}, false},
		{"refused", urlErr(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), false},
		{"no such host", urlErr(&net.DNSError{Err: "no such host", Name: "r.example", IsNotFound: true}), false},
		{"bad certificate", urlErr(x509.UnknownAuthorityError{}), false},
		{"plain HTTP refused", urlErr(errdefs.ErrFailedPrecondition.WithMessage("refusing plain HTTP")), false},
		{"digest mismatch", fmt.Errorf("x: %w", ErrDigestMismatch), false},
		{"canceled", urlErr(context.Canceled), false},
	}
	for _, tc := range tests {
		if got := isTransient(tc.err); got != tc.want {
			t.Errorf("%s: isTransient(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// manifestError classifies what go-containerregistry's remote.Get returns.
func TestManifestError(t *testing.T) {
	want := digest.FromString("pinned")
	hint429 := &respHint{}
	hint429.last.Store(&respSeen{status: http.StatusTooManyRequests, header: http.Header{"Retry-After": {"7"}}})
	hint404 := &respHint{}
	hint404.last.Store(&respSeen{status: http.StatusNotFound, header: http.Header{"Retry-After": {"7"}}})
	refused := &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name       string
		err        error
		want       digest.Digest
		hint       *respHint
		is         func(error) bool
		has        string
		transient  bool
		retryAfter time.Duration
	}{
		{name: "404", err: &transport.Error{StatusCode: http.StatusNotFound}, hint: &respHint{}, is: errdefs.IsNotFound, has: "manifest x: 404 Not Found"},
		{name: "404 ignores Retry-After", err: &transport.Error{StatusCode: http.StatusNotFound}, hint: hint404, is: errdefs.IsNotFound},
		{name: "401", err: &transport.Error{StatusCode: http.StatusUnauthorized}, hint: &respHint{}, is: errdefs.IsUnauthorized, has: "credentials rejected"},
		{name: "429 with Retry-After", err: &transport.Error{StatusCode: http.StatusTooManyRequests}, hint: hint429, is: errdefs.IsResourceExhausted, transient: true, retryAfter: 7 * time.Second},
		{name: "503 with the registry's message", err: &transport.Error{StatusCode: http.StatusServiceUnavailable, Errors: []transport.Diagnostic{{Message: "down for maintenance"}}}, hint: &respHint{}, is: errdefs.IsUnavailable, has: "(down for maintenance)", transient: true},
		{name: "digest ggcr found wrong", err: fmt.Errorf("manifest digest: %q does not match requested digest: %q for %q", "sha256:aa", want, "r"), want: want, hint: &respHint{}, is: func(err error) bool { return errors.Is(err, ErrDigestMismatch) }, has: want.String()},
		{name: "connection refused passes through", err: refused, hint: &respHint{}, is: func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := manifestError(tc.err, "manifest x", tc.want, tc.hint)
			if !tc.is(err) || !strings.Contains(err.Error(), tc.has) {
				t.Errorf("err = %v", err)
			}
			if got := isTransient(err); got != tc.transient {
				t.Errorf("isTransient = %v, want %v", got, tc.transient)
			}
			if got := retryAfter(err); got != tc.retryAfter {
				t.Errorf("retryAfter = %v, want %v", got, tc.retryAfter)
			}
		})
	}
}
