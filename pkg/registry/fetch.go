package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxManifestSize bounds a manifest or index body.
const maxManifestSize = 4 << 20

// chunkSize is what is written to the content store at a time, in one
// write: to containerd's content service (each write a round trip, so
// chunks are filled first; the daemon writes each request in one
// write(2)) or to a blob file in its content root. Not more than 1 MiB:
// on Linux 6.x ext4 gives a buffered write of 2 MiB or more at an aligned
// offset a PMD-sized page cache folio, slow to allocate where free
// high-order memory is scarce or was handed back to a hypervisor (on our
// 2-core VMs, kernel 6.18: 1 GiB in 2 MiB writes took 0.7-2.7 s of system
// time, in 1 MiB writes 0.14 s; BenchmarkBlobFileWrite). 1 MiB is also as
// fast as 2 MiB with a smaller peak RSS (1 GiB gzip image: 40 MiB against
// 50; the real sandbox: 59 against 75).
const chunkSize = 1 << 20

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// pipeCopy copies r to w in full chunks, reading the next chunk while the
// previous one is written, so the download and the content store write
// overlap. body is closed to stop the reader early on a write error. At
// most three chunks are in use at once.
func pipeCopy(w io.Writer, r io.Reader, body io.Closer) (n int64, err error) {
	type chunk struct {
		b   *[]byte
		n   int
		err error
	}
	ch := make(chan chunk, 1)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for {
			bp := chunkPool.Get().(*[]byte)
			buf := *bp
			m := 0
			var err error
			for m < len(buf) && err == nil {
				var k int
				k, err = r.Read(buf[m:])
				m += k
			}
			select {
			case ch <- chunk{bp, m, err}:
			case <-stop:
				chunkPool.Put(bp)
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		_ = body.Close()
		<-done
		for c := range ch {
			chunkPool.Put(c.b)
		}
	}()
	for c := range ch {
		if c.n > 0 {
			wn, werr := w.Write((*c.b)[:c.n])
			n += int64(wn)
			if werr != nil {
				chunkPool.Put(c.b)
				return n, werr
			}
		}
		chunkPool.Put(c.b)
		if c.err == io.EOF {
			return n, nil
		}
		if c.err != nil {
			return n, c.err
		}
	}
	return n, nil
}

// repoClient talks to one repository.
type repoClient struct {
	o      *options
	repo   name.Repository
	client *http.Client
	label  string // the repository as the user wrote it
	// manifests are the remote options manifest GETs go through:
	// go-containerregistry's remote package on client's authenticated
	// transport (no second handshake; retries are the puller's).
	manifests []remote.Option
	// remote reaches the repository with ggcr's remote package (the
	// verifier's referrers and bundles), over the same base transport and
	// auth, with ggcr's own handshake and retries.
	remote []remote.Option
}

// isLoopback says whether host (without port) is a loopback address.
func isLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (o *options) plainHTTPAllowed(registry string) bool {
	if isLoopback(registry) {
		return true
	}
	for _, h := range o.insecure {
		if strings.EqualFold(strings.TrimSpace(h), registry) {
			return true
		}
	}
	return false
}

// httpsOnly refuses plain HTTP to a registry that is neither loopback nor
// listed in insecure_registries (go-containerregistry would otherwise also
// try http for private-range addresses).
type httpsOnly struct {
	inner   http.RoundTripper
	allowed func(host string) bool
}

func (t *httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" && !t.allowed(r.URL.Host) {
		return nil, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
			"refusing plain HTTP to %s: add it to insecure_registries (`occ config set insecure_registries %s`) if it really has no TLS", r.URL.Host, r.URL.Host))
	}
	return t.inner.RoundTrip(r)
}

// skipTLSVerify is t without certificate verification, for a registry in
// insecure_registries or on loopback: such a registry may speak plain HTTP
// or TLS with a certificate nobody signed (as with Docker and containerd).
// Every other registry's certificate is verified against the system roots.
func skipTLSVerify(t http.RoundTripper) http.RoundTripper {
	ht, ok := t.(*http.Transport)
	if !ok {
		return t
	}
	ht = ht.Clone()
	if ht.TLSClientConfig == nil {
		ht.TLSClientConfig = &tls.Config{}
	}
	ht.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // only for registries the user listed as insecure, or loopback
	return ht
}

func (o *options) baseTransport() http.RoundTripper {
	if o.transport != nil {
		return o.transport
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = o.stallTimeout
	t.MaxIdleConnsPerHost = 16
	return t
}

// newRepoClient resolves repo, authenticates (ping + token) with retries.
func (p *puller) newRepoClient(ctx context.Context, repoStr string) (*repoClient, error) {
	o := p.o
	var nopts []name.Option
	reg0, _ := name.NewRepository(repoStr)
	if o.plainHTTPAllowed(reg0.RegistryStr()) {
		nopts = append(nopts, name.Insecure)
	}
	repo, err := name.NewRepository(repoStr, nopts...)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%q is not a valid repository: %v", repoStr, err))
	}
	inner := o.baseTransport()
	if o.plainHTTPAllowed(repo.RegistryStr()) {
		inner = skipTLSVerify(inner)
	}
	inner = o.hosts.Transport(inner) // certs.d hosts.toml (hosts.go)
	base := &httpsOnly{inner: &watchTransport{inner: inner, o: o}, allowed: o.plainHTTPAllowed}
	auth, err := authn.Resolve(ctx, o.keychain, repo)
	if err != nil {
		return nil, fmt.Errorf("reading credentials for %s: %w", repo.RegistryStr(), err)
	}
	var rt http.RoundTripper
	ra := &retryAfterRecorder{inner: base} // the handshake's errors carry no headers
	err = p.retry(ctx, "", func() error {
		var err error
		ra.take()
		rt, err = transport.NewWithContext(ctx, repo.Registry, auth, ra, []string{repo.Scope(transport.PullScope)})
		if err != nil {
			return withRetryAfter(classifyTransportErr(err), ra.take())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("contacting %s: %w", repo.RegistryStr(), err)
	}
	return &repoClient{o: o, repo: repo, client: &http.Client{Transport: rt}, label: repoStr,
		manifests: []remote.Option{remote.WithTransport(rt)},
		remote:    []remote.Option{remote.WithTransport(base), remote.WithAuth(auth)}}, nil
}

// classifyTransportErr maps go-containerregistry's handshake errors.
func classifyTransportErr(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized:
			return fmt.Errorf("authentication failed: %w", errors.Join(errdefs.ErrUnauthenticated, err))
		case http.StatusForbidden:
			return fmt.Errorf("access denied: %w", errors.Join(errdefs.ErrPermissionDenied, err))
		case http.StatusNotFound:
			return fmt.Errorf("%w", errors.Join(errdefs.ErrNotFound, err))
		case http.StatusTooManyRequests, http.StatusRequestTimeout:
			return &httpStatusError{status: te.StatusCode, msg: err.Error(), class: errdefs.ErrUnavailable, cause: err}
		}
		if te.StatusCode >= 500 {
			return &httpStatusError{status: te.StatusCode, msg: err.Error(), class: errdefs.ErrUnavailable, cause: err}
		}
	}
	return err
}

func (c *repoClient) url(kind, ref string) string {
	// The scheme is rewritten by the transport to what the ping found.
	return fmt.Sprintf("https://%s/v2/%s/%s/%s", c.repo.RegistryStr(), c.repo.RepositoryStr(), kind, ref)
}

// retry runs f until it succeeds, fails for good or retries run out. dgst
// names the blob in retry events (empty for manifests and handshakes).
func (p *puller) retry(ctx context.Context, dgst digest.Digest, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !isTransient(err) || attempt >= p.o.retries {
			if attempt > 0 && isTransient(err) {
				return fmt.Errorf("%w (gave up after %d attempts)", err, attempt+1)
			}
			return err
		}
		wait := p.o.backoff << attempt
		if ra := retryAfter(err); ra > 0 {
			wait = min(ra, p.o.maxWait)
		}
		p.emit(Event{Kind: EventRetry, Repository: p.repoLabel, Digest: dgst, Attempt: attempt + 1, Wait: wait, Err: err})
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// fetchManifest GETs a manifest or index by tag or digest through
// go-containerregistry's remote.Get, which checks that the bytes hash to
// the digest asked for. The media type comes from the body, else the
// Content-Type; Docker schema 1 is refused.
func (c *repoClient) fetchManifest(ctx context.Context, p *puller, ref string, want digest.Digest) (ocispec.Descriptor, []byte, error) {
	var nref name.Reference = c.repo.Tag(ref)
	if want != "" {
		nref = c.repo.Digest(want.String())
	}
	var desc ocispec.Descriptor
	var body []byte
	err := p.retry(ctx, "", func() error {
		hint := &respHint{}
		rd, err := remote.Get(nref, append(c.manifests, remote.WithContext(withRespHint(ctx, hint)))...)
		if err != nil {
			return manifestError(err, "manifest "+ref, want, hint)
		}
		body = rd.Manifest
		if len(body) > maxManifestSize {
			return fmt.Errorf("manifest %s is larger than %d bytes: %w", ref, maxManifestSize, errdefs.ErrInvalidArgument)
		}
		got := digest.FromBytes(body)
		if want != "" && got != want {
			return fmt.Errorf("manifest %s: the registry served content with digest %s: %w", want, got, ErrDigestMismatch)
		}
		// By tag, the registry's Docker-Content-Digest, when sent, must
		// match the bytes (ggcr leaves this out; a short or swapped answer
		// shows here).
		if hd := hint.header("Docker-Content-Digest"); want == "" && hd != "" {
			if d, err := digest.Parse(hd); err == nil && d.Algorithm() == got.Algorithm() && d != got {
				return fmt.Errorf("manifest %s: the registry says its digest is %s but the bytes hash to %s: %w", ref, d, got, ErrDigestMismatch)
			}
		}
		mt, err := manifestMediaType(string(rd.MediaType), body)
		if err != nil {
			return fmt.Errorf("manifest %s: %w", ref, err)
		}
		desc = ocispec.Descriptor{MediaType: mt, Digest: got, Size: int64(len(body))}
		return nil
	})
	return desc, body, err
}

func manifestMediaType(contentType string, body []byte) (string, error) {
	var probe struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return "", fmt.Errorf("not a valid manifest (%v): %w", err, errdefs.ErrInvalidArgument)
	}
	if probe.SchemaVersion == 1 {
		return "", errdefs.ErrNotImplemented.WithMessage("Docker schema 1 manifests are not supported; push the image again with a current tool")
	}
	mt := probe.MediaType
	if mt == "" {
		ct, _, _ := strings.Cut(contentType, ";")
		mt = strings.TrimSpace(ct)
	}
	switch {
	case images.IsIndexType(mt) || images.IsManifestType(mt):
		return mt, nil
	case probe.Manifests != nil:
		return ocispec.MediaTypeImageIndex, nil
	case probe.Config != nil:
		return ocispec.MediaTypeImageManifest, nil
	}
	return "", fmt.Errorf("unsupported manifest media type %q: %w", mt, errdefs.ErrNotImplemented)
}

// fetchBlob streams desc into the content store, verifying its size and
// digest, retrying transient failures and resuming with Range. It reports
// whether the blob was already there.
func (c *repoClient) fetchBlob(ctx context.Context, p *puller, desc ocispec.Descriptor) (reused bool, err error) {
	cs := p.stores.Content
	if _, err := cs.Info(ctx, desc.Digest); err == nil {
		return true, nil
	}
	ref := "occ-pull-" + desc.Digest.String()
	w, err := content.OpenWriter(ctx, cs, content.WithRef(ref), content.WithDescriptor(desc))
	if err != nil {
		if errdefs.IsAlreadyExists(err) {
			return true, nil
		}
		return false, local(fmt.Errorf("opening a content store writer for %s: %w", desc.Digest, err))
	}
	defer func() {
		if w != nil {
			_ = w.Close()
		}
	}()
	abort := func() { _ = cs.Abort(context.WithoutCancel(ctx), ref) }

	// A partial download the registry cannot resume is discarded and the
	// blob fetched again from its start at once, within the same attempt.
	// containerd's remote writer only truncates on its next write (its
	// Status still reports the old offset), so the ingest is aborted and a
	// fresh writer opened instead.
	err = p.retry(ctx, desc.Digest, func() error {
		err := c.streamBlobOrRanges(ctx, p, w, desc)
		var re *restartError
		if !errors.As(err, &re) {
			return err
		}
		_ = w.Close()
		w = nil
		abort()
		nw, err := content.OpenWriter(ctx, cs, content.WithRef(ref), content.WithDescriptor(desc))
		if err != nil {
			return local(fmt.Errorf("reopening a content store writer for %s: %w", desc.Digest, err))
		}
		w = nw
		return c.streamBlob(ctx, p, w, desc)
	})
	if err != nil {
		if errors.Is(err, ErrDigestMismatch) {
			abort()
		}
		return false, err
	}
	if err := w.Commit(ctx, desc.Size, desc.Digest); err != nil {
		if errdefs.IsAlreadyExists(err) {
			return false, nil
		}
		abort()
		if errdefs.IsFailedPrecondition(err) {
			return false, fmt.Errorf("blob %s failed verification (%v): %w", desc.Digest, err, ErrDigestMismatch)
		}
		return false, local(fmt.Errorf("storing blob %s: %w", desc.Digest, err))
	}
	return false, nil
}

// blobSink is where streamBlob appends: a content.Writer, or a teeWriter
// that also feeds the unpack.
type blobSink interface {
	io.Writer
	Status() (content.Status, error)
	Truncate(size int64) error
}

// streamBlob is one GET of the rest of the blob, appended to w.
func (c *repoClient) streamBlob(ctx context.Context, p *puller, w blobSink, desc ocispec.Descriptor) error {
	return c.streamBlobFrom(ctx, p, w, desc, false)
}

// streamBlobRestarting is streamBlob, except that a partial blob the
// registry will not resume is fetched again from its first byte at once
// (w is truncated; a teeWriter does not hand the bytes its unpack already
// has over again).
func (c *repoClient) streamBlobRestarting(ctx context.Context, p *puller, w blobSink, desc ocispec.Descriptor) error {
	err := c.streamBlobFrom(ctx, p, w, desc, false)
	var re *restartError
	if !errors.As(err, &re) {
		return err
	}
	return c.streamBlobFrom(ctx, p, w, desc, true)
}

// streamBlobFrom is one GET of the blob from where w is, or, with
// fromStart, from its first byte after truncating w (containerd's remote
// writer applies a truncation on its next write and until then reports
// the old offset, so it is not asked).
func (c *repoClient) streamBlobFrom(ctx context.Context, p *puller, w blobSink, desc ocispec.Descriptor, fromStart bool) error {
	var offset int64
	if fromStart {
		if err := w.Truncate(0); err != nil {
			return fmt.Errorf("restarting blob %s: %w", desc.Digest, err)
		}
	} else {
		st, err := w.Status()
		if err != nil {
			return fmt.Errorf("content store status of %s: %w", desc.Digest, err)
		}
		offset = st.Offset
	}
	if offset >= desc.Size && desc.Size > 0 {
		// All bytes are in; Commit verifies them.
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("blobs", desc.Digest.String()), nil)
	if err != nil {
		return err
	}
	if offset > 0 {
		// A closed range: some registries (go-containerregistry's, crane's)
		// refuse the open-ended form with 416.
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", offset, desc.Size-1))
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		if offset > 0 { // no Range support: start over
			if err := w.Truncate(0); err != nil {
				return fmt.Errorf("restarting blob %s: %w", desc.Digest, err)
			}
			offset = 0
		}
	case http.StatusPartialContent:
		var start int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-", &start); err != nil || start != offset {
			return &restartError{dgst: desc.Digest, offset: offset, why: fmt.Sprintf("it answered with Content-Range %q", resp.Header.Get("Content-Range"))}
		}
	case http.StatusRequestedRangeNotSatisfiable:
		return &restartError{dgst: desc.Digest, offset: offset, why: resp.Status}
	default:
		return statusError(resp, "blob "+desc.Digest.String())
	}
	remaining := desc.Size - offset
	if cl := resp.ContentLength; cl > remaining {
		return fmt.Errorf("blob %s: the registry sends %d bytes, %d expected: %w", desc.Digest, cl+offset, desc.Size, ErrDigestMismatch)
	}
	pw := &progressWriter{w: w, p: p, desc: desc, offset: offset}
	n, err := pipeCopy(pw, io.LimitReader(resp.Body, remaining+1), resp.Body)
	if n > remaining {
		return fmt.Errorf("blob %s is larger than its descriptor's %d bytes: %w", desc.Digest, desc.Size, ErrDigestMismatch)
	}
	if err != nil {
		return err
	}
	if n < remaining {
		return &truncatedError{dgst: desc.Digest, got: offset + n, want: desc.Size}
	}
	return nil
}

// progressWriter reports bytes as they reach the store.
type progressWriter struct {
	w      io.Writer
	p      *puller
	desc   ocispec.Descriptor
	offset int64
}

func (pw *progressWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	pw.offset += int64(n)
	pw.p.fetched.Add(int64(n))
	pw.p.emit(Event{Kind: EventBlobProgress, Repository: pw.p.repoLabel, Digest: pw.desc.Digest, Size: pw.desc.Size, Offset: pw.offset})
	return n, err
}

// readLocalOrFetch returns a manifest's bytes from the content store when
// present, else from the registry (verified against desc).
func (c *repoClient) readLocalOrFetch(ctx context.Context, p *puller, desc ocispec.Descriptor) ([]byte, error) {
	if b, err := content.ReadBlob(ctx, p.stores.Content, desc); err == nil {
		return b, nil
	}
	_, body, err := c.fetchManifest(ctx, p, desc.Digest.String(), desc.Digest)
	if err != nil {
		return nil, err
	}
	if int64(len(body)) != desc.Size {
		return nil, fmt.Errorf("manifest %s is %d bytes, its descriptor says %d: %w", desc.Digest, len(body), desc.Size, ErrDigestMismatch)
	}
	return body, nil
}

// writeManifest stores a manifest or index with its GC labels.
func writeManifest(ctx context.Context, cs content.Store, desc ocispec.Descriptor, body []byte, labels map[string]string) error {
	if err := content.WriteBlob(ctx, cs, "occ-pull-"+desc.Digest.String(), bytes.NewReader(body), desc, content.WithLabels(labels)); err != nil {
		return fmt.Errorf("storing manifest %s: %w", desc.Digest, err)
	}
	// An existing blob keeps its old labels: add ours.
	info := content.Info{Digest: desc.Digest, Labels: labels}
	var fields []string
	for k := range labels {
		fields = append(fields, "labels."+k)
	}
	if len(fields) > 0 {
		if _, err := cs.Update(ctx, info, fields...); err != nil {
			return fmt.Errorf("labelling manifest %s: %w", desc.Digest, err)
		}
	}
	return nil
}
