package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
)

// ErrDigestMismatch is content whose digest or size differs from what was
// asked for. It is never retried on the same repository.
var ErrDigestMismatch = errors.New("digest mismatch")

// RepoError is why one repository could not serve the image.
type RepoError struct {
	Repository string
	Reference  string
	Err        error
}

func (e *RepoError) Error() string { return fmt.Sprintf("%s: %v", e.Reference, e.Err) }
func (e *RepoError) Unwrap() error { return e.Err }

// PullError is a pull that no repository could serve. It names every
// repository tried and why it failed, and says what to try.
type PullError struct {
	Failures []*RepoError
}

func (e *PullError) Error() string {
	var b strings.Builder
	if len(e.Failures) == 1 {
		f := e.Failures[0]
		fmt.Fprintf(&b, "cannot pull %s: %v", f.Reference, f.Err)
		if h := hint(f.Err); h != "" {
			fmt.Fprintf(&b, "\n  To fix: %s", h)
		}
		return b.String()
	}
	fmt.Fprintf(&b, "cannot pull the image from any of the %d repositories:", len(e.Failures))
	seen := map[string]bool{}
	var hints []string
	for _, f := range e.Failures {
		fmt.Fprintf(&b, "\n  - %s: %v", f.Reference, f.Err)
		if h := hint(f.Err); h != "" && !seen[h] {
			seen[h] = true
			hints = append(hints, h)
		}
	}
	for _, h := range hints {
		fmt.Fprintf(&b, "\n  To fix: %s", h)
	}
	return b.String()
}

// Unwrap exposes every repository's error, plus a classification when all
// failed the same way (errdefs.IsNotFound etc. work on the whole).
func (e *PullError) Unwrap() []error {
	out := make([]error, 0, len(e.Failures))
	for _, f := range e.Failures {
		out = append(out, f)
	}
	return out
}

// VerifyError is an image whose signature the verifier refused; nothing
// of it was stored.
type VerifyError struct {
	Digest string
	Err    error
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("signature check of %s failed: %v", e.Digest, e.Err)
}
func (e *VerifyError) Unwrap() error { return e.Err }

func hint(err error) string {
	var te *transport.Error
	var ve *VerifyError
	var h interface{ Hint() string }
	if errors.As(err, &ve) {
		if errors.As(ve.Err, &h) {
			return h.Hint()
		}
		return "check the image_verify settings (`occ config show`)"
	}
	switch {
	case errors.Is(err, ErrDigestMismatch):
		return "the registry served content that does not match its digest; check image_digest (`occ config get image_digest`) and the repository, or retry later if a mirror is mid-update"
	case errdefs.IsUnauthorized(err) || errdefs.IsPermissionDenied(err):
		return "log in to the registry (`occ login REGISTRY`, or `docker login`: both write ~/.docker/config.json, whose credential helpers occ also reads), or check the repository name"
	case errdefs.IsNotFound(err):
		return "check image_repositories, image_tag and image_digest (`occ config show`), or pass an explicit reference to `occ image pull REF`"
	case errdefs.IsResourceExhausted(err):
		return "the registry is rate limiting: wait a while, or log in to get a higher limit"
	case errdefs.IsNotImplemented(err):
		return "pass --platform, or use `occ config set image_source build` to build the image locally"
	case errdefs.IsFailedPrecondition(err):
		return ""
	case tlsFailure(err):
		return "the registry's TLS certificate is not trusted: install its CA in the system trust store (update-ca-certificates), or, if the registry has a self-signed certificate or no TLS at all, list it in insecure_registries (`occ config set insecure_registries HOST:PORT`; occ then skips certificate checks for it)"
	case unreachable(err):
		return "check the registry address in image_repositories and the network connection"
	case errors.As(err, &te):
		return "the registry failed; retry later or put another repository first in image_repositories"
	case isTransient(err):
		return "check the network connection and proxy settings ($HTTPS_PROXY), then retry"
	}
	return ""
}

// statusError turns an HTTP error response into a classified error, with
// the registry's own message when it sent one.
func statusError(resp *http.Response, what string) error {
	err := transport.CheckError(resp, http.StatusOK, http.StatusPartialContent)
	var ra time.Duration
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		ra = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return newStatusError(resp.StatusCode, resp.Status, err, what, ra)
}

// manifestError classifies what remote.Get returned for a manifest: an
// HTTP status like statusError (with the Retry-After hint caught on the
// way), a digest go-containerregistry found wrong as ErrDigestMismatch,
// anything else (network, TLS) as it is.
func manifestError(err error, what string, want digest.Digest, hint *respHint) error {
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode != 0 {
		status := fmt.Sprintf("%d %s", te.StatusCode, http.StatusText(te.StatusCode))
		return newStatusError(te.StatusCode, status, te, what, hint.retryAfter())
	}
	if want != "" && strings.Contains(err.Error(), "does not match requested digest") {
		return fmt.Errorf("manifest %s: %v: %w", want, err, ErrDigestMismatch)
	}
	return err
}

// newStatusError is a failed request's status (code, status text) as a
// classified error; cause is go-containerregistry's reading of the body.
func newStatusError(code int, status string, cause error, what string, retryAfter time.Duration) error {
	msg := fmt.Sprintf("%s: %s", what, status)
	var te *transport.Error
	if errors.As(cause, &te) && len(te.Errors) > 0 {
		msg = fmt.Sprintf("%s: %s (%s)", what, status, te.Errors[0].Message)
	}
	var class error
	switch code {
	case http.StatusUnauthorized:
		class = errdefs.ErrUnauthenticated
		msg += ": authentication required or credentials rejected"
	case http.StatusForbidden:
		class = errdefs.ErrPermissionDenied
		msg += ": access denied"
	case http.StatusNotFound:
		class = errdefs.ErrNotFound
	case http.StatusTooManyRequests:
		class = errdefs.ErrResourceExhausted
	case http.StatusRequestTimeout:
		class = errdefs.ErrUnavailable
	default:
		if code >= 500 {
			class = errdefs.ErrUnavailable
		} else {
			class = errdefs.ErrUnknown
		}
	}
	se := &httpStatusError{status: code, msg: msg, class: class, cause: cause}
	if code == http.StatusTooManyRequests || code >= 500 {
		se.retryAfter = retryAfter
	}
	return se
}

type httpStatusError struct {
	status     int
	msg        string
	class      error
	cause      error
	retryAfter time.Duration
}

func (e *httpStatusError) Error() string   { return e.msg }
func (e *httpStatusError) Unwrap() []error { return []error{e.class, e.cause} }

func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// truncatedError is a body that ended before its size.
type truncatedError struct {
	dgst      digest.Digest
	got, want int64
}

func (e *truncatedError) Error() string {
	return fmt.Sprintf("blob %s ended after %d of %d bytes", e.dgst, e.got, e.want)
}

// restartError is a partial blob the registry would not resume: it is
// discarded and the blob fetched again from the start.
type restartError struct {
	dgst   digest.Digest
	offset int64
	why    string
}

func (e *restartError) Error() string {
	return fmt.Sprintf("the registry cannot resume blob %s at byte %d (%s); fetching it again from the start", e.dgst, e.offset, e.why)
}

// isTransient says whether err is worth retrying on the same repository:
// timeouts, resets, EOF mid-body, 408/429/5xx.
func isTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrDigestMismatch) {
		return false
	}
	var af *applyFailed
	if errors.As(err, &af) {
		return false
	}
	// A repository nobody answers for is not waited on: the next one is
	// tried at once. Neither is a TLS failure or a refused plain-HTTP
	// request: they do not heal by themselves.
	if unreachable(err) || errdefs.IsFailedPrecondition(err) || tlsFailure(err) {
		return false
	}
	var se *httpStatusError
	if errors.As(err, &se) {
		return se.status == http.StatusRequestTimeout || se.status == http.StatusTooManyRequests || se.status >= 500
	}
	var te *truncatedError
	var rs *restartError
	if errors.As(err, &te) || errors.As(err, &rs) {
		return true
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	// http.Client wraps many transport failures in *url.Error with text only.
	msg := err.Error()
	for _, s := range []string{"connection reset", "broken pipe", "unexpected EOF", "server closed idle connection", "timeout", "INTERNAL_ERROR", "stream error"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// unreachable is a registry that refuses connections or whose name does
// not resolve.
func unreachable(err error) bool {
	var dnsErr *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &dnsErr) && dnsErr.IsNotFound) ||
		strings.Contains(err.Error(), "connection refused")
}

func tlsFailure(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &rh) ||
		strings.Contains(err.Error(), "tls: ") || strings.Contains(err.Error(), "x509: ")
}

func retryAfter(err error) time.Duration {
	var se *httpStatusError
	if errors.As(err, &se) {
		return se.retryAfter
	}
	return 0
}
