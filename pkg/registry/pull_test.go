package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"

	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clog "github.com/containerd/log"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/metadata"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	contentlocal "github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/opencode-cloud/occ/pkg/meta"
)

var amd64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}

// faultRegistry is ggcr's in-memory registry behind a handler that can
// inject faults and records the requests it saw.
type faultRegistry struct {
	srv   *httptest.Server
	inner http.Handler

	mu    sync.Mutex
	fault func(w http.ResponseWriter, r *http.Request, n int) bool // n: how often this path was seen before
	seen  map[string]int
	log   []string
}

func newFaultRegistry(t *testing.T) *faultRegistry {
	f := &faultRegistry{inner: ggcrregistry.New(ggcrregistry.Logger(nopLogger())), seen: map[string]int{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *faultRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	key := r.Method + " " + r.URL.Path
	n := f.seen[key]
	f.seen[key]++
	entry := key
	if rg := r.Header.Get("Range"); rg != "" {
		entry += " Range:" + rg
	}
	f.log = append(f.log, entry)
	fault := f.fault
	f.mu.Unlock()
	if fault != nil && fault(w, r, n) {
		return
	}
	f.inner.ServeHTTP(w, r)
}

func (f *faultRegistry) setFault(fn func(w http.ResponseWriter, r *http.Request, n int) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fn
	f.seen = map[string]int{}
	f.log = nil
}

// requests lists the requests seen since the last setFault, without pings.
func (f *faultRegistry) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, l := range f.log {
		if !strings.HasSuffix(l, " /v2/") {
			out = append(out, l)
		}
	}
	return out
}

func (f *faultRegistry) host() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *faultRegistry) push(t *testing.T, repo string, img v1.Image) string {
	t.Helper()
	ref, err := name.ParseReference(f.host() + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return f.host() + "/" + strings.Split(repo, ":")[0]
}

func (f *faultRegistry) pushIndex(t *testing.T, repo string, idx v1.ImageIndex) string {
	t.Helper()
	ref, err := name.ParseReference(f.host() + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return f.host() + "/" + strings.Split(repo, ":")[0]
}

func testImage(t *testing.T, version string) v1.Image {
	t.Helper()
	img, err := random.Image(64<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Labels = map[string]string{meta.ImageVersionLabel: version}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

type env struct {
	stores Stores
	ctx    context.Context
	// contentRoot is the backend content store's directory.
	contentRoot string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	cs, err := contentlocal.NewStore(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bdb.Close() })
	ctx := namespaces.WithNamespace(context.Background(), "test")
	db := metadata.NewDB(bdb, cs, nil)
	if err := db.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return &env{
		stores:      Stores{Content: db.ContentStore(), Images: metadata.NewImageStore(db), Leases: metadata.NewLeaseManager(db)},
		ctx:         ctx,
		contentRoot: filepath.Join(dir, "content"),
	}
}

type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Kind != EventBlobProgress {
		r.events = append(r.events, e)
	}
}

func (r *recorder) kinds(k EventKind) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func (e *env) pull(src Source, rec *recorder, opts ...Option) (*Result, error) {
	base := []Option{
		WithPlatform(amd64), WithRetry(3, time.Millisecond), WithMaxRetryWait(50 * time.Millisecond),
		WithKeychain(authn.NewMultiKeychain()), WithProgress(rec.add),
	}
	return Pull(e.ctx, e.stores, src, append(base, opts...)...)
}

// assertClean checks what every failed pull must leave: no lease, and the
// record as it was before (absent, or pointing at prev).
func (e *env) assertClean(t *testing.T, prev *images.Image) {
	t.Helper()
	ls, err := e.stores.Leases.List(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 0 {
		t.Errorf("%d lease(s) left behind: %+v", len(ls), ls)
	}
	img, err := e.stores.Images.Get(e.ctx, meta.CurrentImageName)
	switch {
	case prev == nil && !errdefs.IsNotFound(err):
		t.Errorf("image record exists after a failed pull: %+v, %v", img, err)
	case prev != nil && err != nil:
		t.Errorf("previous image record gone: %v", err)
	case prev != nil && (img.Target.Digest != prev.Target.Digest || img.Labels[meta.LabelAcquiredAt] != prev.Labels[meta.LabelAcquiredAt]):
		t.Errorf("previous image record changed: %s -> %s", prev.Target.Digest, img.Target.Digest)
	}
}

func layerDigest(t *testing.T, img v1.Image, i int) string {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := ls[i].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func layerBytes(t *testing.T, img v1.Image, i int) []byte {
	t.Helper()
	ls, _ := img.Layers()
	rc, err := ls[i].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cutAfter writes the first n bytes of body with the full length and then
// drops the connection.
func cutAfter(w http.ResponseWriter, body []byte, n int) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body[:n])
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	panic(http.ErrAbortHandler)
}

func TestPullSuccessAndRepull(t *testing.T) {
	reg := newFaultRegistry(t)
	img := testImage(t, "1.2.3")
	repo := reg.push(t, "sandbox:latest", img)
	e := newEnv(t)
	rec := &recorder{}

	res, err := e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, rec, WithStateFile(filepath.Join(t.TempDir(), "state.json")))
	if err != nil {
		t.Fatal(err)
	}
	wantDigest, _ := img.Digest()
	if res.Image.Target.Digest.String() != wantDigest.String() {
		t.Errorf("target %s, want %s", res.Image.Target.Digest, wantDigest)
	}
	p := res.Provenance
	if p.Source != meta.SourcePrebuilt || p.ImageVersion != "1.2.3" || p.Platform != "linux/amd64" ||
		p.ManifestDigest != wantDigest.String() || p.IndexDigest != "" || p.Repository != repo || p.Reference != repo+":latest" || p.Registry != reg.host() {
		t.Errorf("provenance %+v", p)
	}
	if res.UpToDate || res.FetchedBytes == 0 {
		t.Errorf("first pull: UpToDate=%v fetched=%d", res.UpToDate, res.FetchedBytes)
	}
	got, err := e.stores.Images.Get(e.ctx, meta.CurrentImageName)
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels[meta.LabelImageVersion] != "1.2.3" || got.Labels[meta.ManagedByLabel] != meta.ManagedByValue {
		t.Errorf("labels %v", got.Labels)
	}
	e.assertClean(t, &got)

	// Re-pull: one manifest request, no blob.
	reg.setFault(nil)
	res2, err := e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	if !res2.UpToDate || res2.FetchedBytes != 0 {
		t.Errorf("re-pull: UpToDate=%v fetched=%d", res2.UpToDate, res2.FetchedBytes)
	}
	if reqs := reg.requests(); len(reqs) != 1 || !strings.Contains(reqs[0], "/manifests/latest") {
		t.Errorf("re-pull requests: %v, want one manifest GET", reqs)
	}
	e.assertClean(t, &got)
}

func TestPullIndexSkipsAttestation(t *testing.T) {
	reg := newFaultRegistry(t)
	amdImg := testImage(t, "2.0.0")
	armImg := testImage(t, "2.0.0-arm")
	att, _ := random.Image(128, 1)
	att2, _ := random.Image(128, 1)
	idx := mutate.AppendManifests(empty.Index,
		// The attestation comes first: a careless chooser would take it.
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"}}},
		// An attestation that claims a real platform is still skipped.
		mutate.IndexAddendum{Add: att2, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "linux", Architecture: "amd64"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"}}},
		mutate.IndexAddendum{Add: armImg, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amdImg, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	repo := reg.pushIndex(t, "multi:v2", idx)
	reg.setFault(nil)
	e := newEnv(t)
	res, err := e.pull(Source{Repositories: []string{repo}, Tag: "v2"}, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	amdDigest, _ := amdImg.Digest()
	if res.Provenance.IndexDigest != idxDigest.String() || res.Provenance.ManifestDigest != amdDigest.String() || res.Provenance.ImageVersion != "2.0.0" {
		t.Errorf("provenance %+v", res.Provenance)
	}
	if res.Image.Target.Digest.String() != idxDigest.String() {
		t.Errorf("record target %s, want the index %s", res.Image.Target.Digest, idxDigest)
	}
	// Only the amd64 image's blobs were fetched.
	armDigest, _ := armImg.Digest()
	for _, r := range reg.requests() {
		if strings.Contains(r, armDigest.String()) || strings.Contains(r, layerDigest(t, armImg, 0)) {
			t.Errorf("fetched arm64 content: %s", r)
		}
	}
	// Asking for a platform the index lacks fails clearly.
	e2 := newEnv(t)
	_, err = e2.pull(Source{Repositories: []string{repo}, Tag: "v2"}, &recorder{}, WithPlatform(ocispec.Platform{OS: "linux", Architecture: "s390x"}))
	if err == nil || !strings.Contains(err.Error(), "no linux/s390x variant") || !strings.Contains(err.Error(), "linux/amd64, linux/arm64") {
		t.Errorf("missing platform: %v", err)
	}
	e2.assertClean(t, nil)
}

func TestPullDigestPin(t *testing.T) {
	reg := newFaultRegistry(t)
	img := testImage(t, "3.0.0")
	repo := reg.push(t, "pinned:latest", img)
	d, _ := img.Digest()
	pin := digest.Digest(d.String())

	t.Run("match, served by the second repository", func(t *testing.T) {
		e := newEnv(t)
		rec := &recorder{}
		res, err := e.pull(Source{Repositories: []string{reg.host() + "/other", repo}, Digest: pin, Tag: "ignored"}, rec)
		if err != nil {
			t.Fatal(err)
		}
		if res.Provenance.Reference != repo+"@"+pin.String() || res.Image.Target.Digest != pin {
			t.Errorf("provenance %+v", res.Provenance)
		}
		if fb := rec.kinds(EventFallback); len(fb) != 1 || fb[0].Next != repo+"@"+pin.String() {
			t.Errorf("fallback events %+v", fb)
		}
	})
	t.Run("already local: no request at all", func(t *testing.T) {
		e := newEnv(t)
		u := &fakeUnpacker{}
		if _, err := e.pull(Source{Repositories: []string{repo}, Digest: pin}, &recorder{}, WithUnpacker(u)); err != nil {
			t.Fatal(err)
		}
		reg.setFault(nil)
		reg.mu.Lock()
		reg.log = nil
		reg.mu.Unlock()
		res, err := e.pull(Source{Repositories: []string{repo}, Digest: pin}, &recorder{}, WithUnpacker(u))
		if err != nil || !res.UpToDate || res.Image.Target.Digest != pin {
			t.Fatalf("re-pull of the pin: %v %+v", err, res)
		}
		reg.mu.Lock()
		n := len(reg.log)
		reg.mu.Unlock()
		if n != 0 {
			t.Errorf("%d registry requests for a pin already local: %v", n, reg.requests())
		}
		// Not unpacked any more: the registry is asked again.
		u.unpacked = false
		if res, err := e.pull(Source{Repositories: []string{repo}, Digest: pin}, &recorder{}, WithUnpacker(u)); err != nil || res.UpToDate {
			t.Errorf("pin not unpacked: %v UpToDate=%v", err, res != nil && res.UpToDate)
		}
		if len(reg.requests()) == 0 {
			t.Errorf("no request for a pin that is not unpacked")
		}
	})
	t.Run("registry serves other bytes", func(t *testing.T) {
		e := newEnv(t)
		reg.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
			if strings.Contains(r.URL.Path, "/manifests/") {
				// The real manifest with one extra space: same JSON, other digest.
				rw := httptest.NewRecorder()
				reg.inner.ServeHTTP(rw, r)
				body := append(rw.Body.Bytes(), ' ')
				w.Header().Set("Content-Type", rw.Header().Get("Content-Type"))
				w.Write(body)
				return true
			}
			return false
		})
		defer reg.setFault(nil)
		_, err := e.pull(Source{Repositories: []string{repo}, Digest: pin}, &recorder{})
		if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), pin.String()) || !strings.Contains(err.Error(), "To fix") {
			t.Fatalf("err = %v", err)
		}
		if n := len(reg.requests()); n != 1 {
			t.Errorf("digest mismatch retried: %v", reg.requests())
		}
		e.assertClean(t, nil)
	})
	t.Run("pin not in any repository", func(t *testing.T) {
		e := newEnv(t)
		other := digest.FromString("nope")
		_, err := e.pull(Source{Repositories: []string{repo}, Digest: other}, &recorder{})
		if !errdefs.IsNotFound(err) {
			t.Fatalf("err = %v, want not found", err)
		}
		e.assertClean(t, nil)
	})
}

func TestPullFaults(t *testing.T) {
	img := testImage(t, "4.0.0")
	layer := layerDigest(t, img, 1)
	body := layerBytes(t, img, 1)
	isLayer := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+layer)
	}
	tests := []struct {
		name  string
		fault func(w http.ResponseWriter, r *http.Request, n int) bool
		// ok: the pull succeeds; else errIs / errHas describe the failure.
		ok        bool
		errIs     func(error) bool
		errHas    []string
		check     func(t *testing.T, reg *faultRegistry, rec *recorder)
		firstDead bool
	}{
		{name: "connection cut before the body", ok: true, fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
			if isLayer(r) && n == 0 {
				cutAfter(w, body, 0)
			}
			return false
		}},
		{name: "connection cut mid-blob resumes with Range", ok: true, fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
			if isLayer(r) && n == 0 {
				cutAfter(w, body, len(body)/2)
			}
			return false
		}, check: func(t *testing.T, reg *faultRegistry, rec *recorder) {
			want := fmt.Sprintf("Range:bytes=%d-", len(body)/2)
			found := false
			for _, r := range reg.requests() {
				found = found || strings.Contains(r, layer) && strings.Contains(r, want)
			}
			if !found {
				t.Errorf("no resumed request with %s: %v", want, reg.requests())
			}
		}},
		{name: "connection cut one byte before the end, twice", ok: true, fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
			if isLayer(r) && n < 2 {
				if r.Header.Get("Range") != "" {
					// A registry without Range support: full body from 0.
					r.Header.Del("Range")
				}
				cutAfter(w, body, len(body)-1)
			}
			return false
		}},
		{name: "429 with Retry-After is honoured", ok: true, fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
			if isLayer(r) && n == 0 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return true
			}
			return false
		}, check: func(t *testing.T, reg *faultRegistry, rec *recorder) {
			rs := rec.kinds(EventRetry)
			// Retry-After 1s, capped by WithMaxRetryWait(50ms); the backoff alone would be 1ms.
			if len(rs) != 1 || rs[0].Wait != 50*time.Millisecond || rs[0].Digest.String() != layer {
				t.Errorf("retry events %+v", rs)
			}
		}},
		{name: "429 with Retry-After on the manifest is honoured", ok: true, fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
			if strings.Contains(r.URL.Path, "/manifests/") && n == 0 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return true
			}
			return false
		}, check: func(t *testing.T, reg *faultRegistry, rec *recorder) {
			rs := rec.kinds(EventRetry)
			// The header reaches the retry through go-containerregistry's
			// remote.Get (watchTransport), capped at 50ms as above.
			if len(rs) != 1 || rs[0].Wait != 50*time.Millisecond || rs[0].Digest != "" || !errdefs.IsResourceExhausted(rs[0].Err) {
				t.Errorf("retry events %+v", rs)
			}
		}},
		{name: "tag manifest with a stale Docker-Content-Digest", errIs: func(err error) bool { return errors.Is(err, ErrDigestMismatch) }, errHas: []string{"says its digest is " + digest.FromString("stale").String()},
			fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
				if strings.Contains(r.URL.Path, "/manifests/latest") {
					raw, _ := img.RawManifest()
					mt, _ := img.MediaType()
					w.Header().Set("Content-Type", string(mt))
					w.Header().Set("Docker-Content-Digest", digest.FromString("stale").String())
					w.Write(raw)
					return true
				}
				return false
			}},
		{name: "manifest 500 names the registry's message", errIs: errdefs.IsUnavailable, errHas: []string{"500 Internal Server Error", "storage backend down", "gave up after 4 attempts"},
			fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
				if strings.Contains(r.URL.Path, "/manifests/") {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusInternalServerError)
					w.Write([]byte(`{"errors":[{"code":"UNKNOWN","message":"storage backend down"}]}`))
					return true
				}
				return false
			}},
		{name: "503 with Retry-After on the ping is honoured", ok: true, fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
			if r.URL.Path == "/v2/" && n == 0 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
			return false
		}, check: func(t *testing.T, reg *faultRegistry, rec *recorder) {
			rs := rec.kinds(EventRetry)
			// Retry-After 1s, capped by WithMaxRetryWait(50ms); the backoff alone would be 1ms.
			if len(rs) != 1 || rs[0].Wait != 50*time.Millisecond || rs[0].Digest != "" {
				t.Errorf("retry events %+v, want one for the ping waiting 50ms", rs)
			}
		}},
		{name: "429 with an HTTP-date Retry-After on the ping", ok: true, fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
			if r.URL.Path == "/v2/" && n == 0 {
				w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
				w.WriteHeader(http.StatusTooManyRequests)
				return true
			}
			return false
		}, check: func(t *testing.T, reg *faultRegistry, rec *recorder) {
			if rs := rec.kinds(EventRetry); len(rs) != 1 || rs[0].Wait != 50*time.Millisecond {
				t.Errorf("retry events %+v, want one waiting the capped 50ms", rs)
			}
		}},
		{name: "503 storm that passes", ok: true, fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
			if (isLayer(r) || strings.Contains(r.URL.Path, "/manifests/")) && n < 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
			return false
		}, check: func(t *testing.T, reg *faultRegistry, rec *recorder) {
			if n := len(rec.kinds(EventRetry)); n != 6 {
				t.Errorf("%d retries, want 6 (3 manifest + 3 blob)", n)
			}
		}},
		{name: "503 storm that does not pass", errIs: errdefs.IsUnavailable, errHas: []string{"503", "gave up after 4 attempts", "retry later"},
			fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
				if isLayer(r) {
					w.WriteHeader(http.StatusServiceUnavailable)
					return true
				}
				return false
			}},
		{name: "tampered byte", errIs: func(err error) bool { return errors.Is(err, ErrDigestMismatch) }, errHas: []string{layer, "does not match its digest"},
			fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
				if isLayer(r) {
					b := bytes.Clone(body)
					b[len(b)/3] ^= 0xff
					w.Write(b)
					return true
				}
				return false
			}, check: func(t *testing.T, reg *faultRegistry, rec *recorder) {
				if n := len(rec.kinds(EventRetry)); n != 0 {
					t.Errorf("a digest mismatch was retried %d times", n)
				}
			}},
		{name: "truncated blob", errHas: []string{"ended after", "gave up after 4 attempts"}, errIs: func(err error) bool { return true },
			fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
				if isLayer(r) {
					w.Write(body[:len(body)-10])
					return true
				}
				return false
			}},
		{name: "oversized blob", errIs: func(err error) bool { return errors.Is(err, ErrDigestMismatch) }, errHas: []string{"larger than"},
			fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
				if isLayer(r) {
					w.Write(append(bytes.Clone(body), 1, 2, 3))
					return true
				}
				return false
			}},
		{name: "401", errIs: errdefs.IsUnauthorized, errHas: []string{"401", "log in"},
			fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
				if strings.Contains(r.URL.Path, "/manifests/") {
					w.WriteHeader(http.StatusUnauthorized)
					return true
				}
				return false
			}, check: func(t *testing.T, reg *faultRegistry, rec *recorder) {
				if n := len(reg.requests()); n != 1 {
					t.Errorf("401 retried: %v", reg.requests())
				}
			}},
		{name: "404 tag", errIs: errdefs.IsNotFound, errHas: []string{"404", "image_tag"},
			fault: func(w http.ResponseWriter, r *http.Request, n int) bool {
				if strings.Contains(r.URL.Path, "/manifests/") {
					w.WriteHeader(http.StatusNotFound)
					return true
				}
				return false
			}, check: func(t *testing.T, reg *faultRegistry, rec *recorder) {
				if n := len(reg.requests()); n != 1 {
					t.Errorf("404 retried: %v", reg.requests())
				}
			}},
		{name: "dead first repository falls back", ok: true, firstDead: true, check: func(t *testing.T, reg *faultRegistry, rec *recorder) {
			fb := rec.kinds(EventFallback)
			if len(fb) != 1 || !strings.Contains(fb[0].Err.Error(), "refused") {
				t.Errorf("fallback events %+v", fb)
			}
		}},
	}
	// Every case runs on both unpack paths: containerd's unpacker (here a
	// fake) and the in-process stream (fakeStream, which checks the diff
	// IDs of what it was fed).
	for _, stream := range []bool{false, true} {
		for _, tc := range tests {
			mode := "containerd"
			if stream {
				mode = "stream"
			}
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				fs := newFakeStream()
				var un Unpacker = &fakeUnpacker{}
				if stream {
					un = fs
				}
				reg := newFaultRegistry(t)
				repo := reg.push(t, "faulty:latest", img)
				// Every case starts with a previous image that must survive.
				e := newEnv(t)
				prevImg := testImage(t, "0.9.0")
				prevRepo := reg.push(t, "prev:latest", prevImg)
				if _, err := e.pull(Source{Repositories: []string{prevRepo}, Tag: "latest"}, &recorder{}, WithUnpacker(un)); err != nil {
					t.Fatal(err)
				}
				prev, _ := e.stores.Images.Get(e.ctx, meta.CurrentImageName)

				reg.setFault(tc.fault)
				repos := []string{repo}
				if tc.firstDead {
					dead := httptest.NewServer(http.NotFoundHandler())
					deadHost := strings.TrimPrefix(dead.URL, "http://")
					dead.Close()
					repos = []string{deadHost + "/faulty", repo}
				}
				rec := &recorder{}
				res, err := e.pull(Source{Repositories: repos, Tag: "latest"}, rec, WithUnpacker(un))
				if stream && fs.open() != 0 {
					t.Errorf("%d layer stream(s) neither committed nor aborted", fs.open())
				}
				if tc.ok {
					if stream && (err != nil || !res.InProcessUnpack || !fs.last().committed) {
						t.Errorf("not streamed: %v", err)
					}
					if err != nil {
						t.Fatalf("pull failed: %v", err)
					}
					want, _ := img.Digest()
					if res.Image.Target.Digest.String() != want.String() {
						t.Errorf("target %s, want %s", res.Image.Target.Digest, want)
					}
					// The layer in the store is the verified one.
					rb, err := content.ReadBlob(e.ctx, e.stores.Content, ocispec.Descriptor{Digest: digest.Digest(layer), Size: int64(len(body))})
					if err != nil || !bytes.Equal(rb, body) {
						t.Errorf("stored layer differs (%v)", err)
					}
					ls, _ := e.stores.Leases.List(e.ctx)
					if len(ls) != 0 {
						t.Errorf("leases left: %v", ls)
					}
				} else {
					if err == nil {
						t.Fatal("pull succeeded, want failure")
					}
					var pe *PullError
					if !errors.As(err, &pe) || len(pe.Failures) != 1 || pe.Failures[0].Repository != repo {
						t.Errorf("error does not name the repository: %#v", err)
					}
					if !tc.errIs(err) {
						t.Errorf("error not classified: %v", err)
					}
					for _, s := range tc.errHas {
						if !strings.Contains(err.Error(), s) {
							t.Errorf("error %q lacks %q", err, s)
						}
					}
					e.assertClean(t, &prev)
					// The failed layer did not land in the store.
					if _, err := e.stores.Content.Info(e.ctx, digest.Digest(layer)); err == nil {
						t.Errorf("bad layer committed to the content store")
					}
				}
				if tc.check != nil {
					tc.check(t, reg, rec)
				}
			})
		}
	}
}

func TestPullAllRepositoriesFail(t *testing.T) {
	reg := newFaultRegistry(t)
	e := newEnv(t)
	reg.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		switch {
		case strings.Contains(r.URL.Path, "/one/"):
			w.WriteHeader(http.StatusUnauthorized)
		case strings.Contains(r.URL.Path, "/two/"):
			w.WriteHeader(http.StatusNotFound)
		default:
			return false
		}
		return true
	})
	repos := []string{reg.host() + "/one", reg.host() + "/two"}
	_, err := e.pull(Source{Repositories: repos, Tag: "latest"}, &recorder{})
	if err == nil {
		t.Fatal("pull succeeded")
	}
	for _, s := range []string{repos[0] + ":latest", repos[1] + ":latest", "401", "404", "log in", "image_repositories"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q:\n%v", s, err)
		}
	}
	e.assertClean(t, nil)
}

func TestPlainHTTPRefused(t *testing.T) {
	o := defaultOptions()
	o.insecure = []string{"registry.internal:5000"}
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost:5000": true, "[::1]:5000": true,
		"registry.internal:5000": true, "10.0.0.1:5000": false, "ghcr.io": false,
	} {
		if got := o.plainHTTPAllowed(host); got != want {
			t.Errorf("plainHTTPAllowed(%s) = %v, want %v", host, got, want)
		}
	}
}

func TestParseSource(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	tests := []struct {
		in      string
		repo    string
		tag     string
		dgst    string
		wantErr bool
	}{
		{in: "ghcr.io/prizz/sandbox", repo: "ghcr.io/prizz/sandbox", tag: "latest"},
		{in: "ghcr.io/prizz/sandbox:1.0", repo: "ghcr.io/prizz/sandbox", tag: "1.0"},
		{in: "localhost:5000/x:v", repo: "localhost:5000/x", tag: "v"},
		{in: "localhost:5000/x", repo: "localhost:5000/x", tag: "latest"},
		{in: "ghcr.io/x@" + d, repo: "ghcr.io/x", dgst: d},
		{in: "ghcr.io/x:1@" + d, repo: "ghcr.io/x", tag: "1", dgst: d},
		{in: "", wantErr: true},
		{in: "ghcr.io/x@sha256:zz", wantErr: true},
		{in: "UPPER/case", wantErr: true},
	}
	for _, tc := range tests {
		s, err := ParseSource(tc.in)
		if tc.wantErr {
			if err == nil || !errdefs.IsInvalidArgument(err) {
				t.Errorf("ParseSource(%q) = %+v, %v; want invalid argument", tc.in, s, err)
			}
			continue
		}
		if err != nil || s.Repositories[0] != tc.repo || s.Tag != tc.tag || s.Digest.String() != tc.dgst {
			t.Errorf("ParseSource(%q) = %+v, %v", tc.in, s, err)
		}
	}
}

func TestSourceFromConfig(t *testing.T) {
	cfg := meta.DefaultConfig()
	s, err := SourceFromConfig(cfg)
	if err != nil || len(s.Repositories) != 2 || s.Tag != meta.SandboxTag() || s.Digest != "" {
		t.Errorf("default: %+v %v", s, err)
	}
	cfg.ImageDigest = "sha256:nothex"
	if _, err := SourceFromConfig(cfg); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad digest: %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "-1": 0, "x": 0,
		now.Add(5 * time.Second).Format(http.TimeFormat): 5 * time.Second,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }

func TestMain(m *testing.M) {
	_ = clog.SetLevel("error") // the local content store warns about fsverity
	os.Exit(m.Run())
}

// fakeUnpacker records calls and fails the unpack when told to.
type fakeUnpacker struct {
	fail     error
	unpacked bool
	wraps    int
}

func (f *fakeUnpacker) Wrap(ctx context.Context, p ocispec.Platform, limit int) (func(images.Handler) images.Handler, func() error, error) {
	f.wraps++
	return func(h images.Handler) images.Handler { return h }, func() error {
		if f.fail == nil {
			f.unpacked = true
		}
		return f.fail
	}, nil
}

func (f *fakeUnpacker) Unpacked(ctx context.Context, img images.Image, p ocispec.Platform) (bool, error) {
	return f.unpacked, nil
}

func TestPullUnpack(t *testing.T) {
	reg := newFaultRegistry(t)
	repo := reg.push(t, "unpack:latest", testImage(t, "5.0.0"))
	other := reg.push(t, "unpack2:latest", testImage(t, "5.0.0"))
	e := newEnv(t)

	// An unpack failure is containerd's, not the registry's: no fallback
	// to the next repository, no record, no lease.
	u := &fakeUnpacker{fail: errors.New("snapshotter exploded")}
	rec := &recorder{}
	_, err := e.pull(Source{Repositories: []string{repo, other}, Tag: "latest"}, rec, WithUnpacker(u))
	if err == nil || !strings.Contains(err.Error(), "unpacking into the snapshotter: snapshotter exploded") {
		t.Fatalf("err = %v", err)
	}
	if len(rec.kinds(EventFallback)) != 0 || u.wraps != 1 {
		t.Errorf("fell back after a local failure (%d wraps)", u.wraps)
	}
	e.assertClean(t, nil)

	// Content present but not unpacked: the next pull unpacks again
	// without downloading.
	u.fail = nil
	if _, err := e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, &recorder{}, WithUnpacker(u)); err != nil {
		t.Fatal(err)
	}
	u.unpacked = false
	reg.setFault(nil)
	res, err := e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, &recorder{}, WithUnpacker(u))
	if err != nil {
		t.Fatal(err)
	}
	if res.UpToDate || u.wraps != 3 || res.FetchedBytes != 0 {
		t.Errorf("not-unpacked image: UpToDate=%v wraps=%d fetched=%d", res.UpToDate, u.wraps, res.FetchedBytes)
	}
	for _, r := range reg.requests() {
		if strings.Contains(r, "/blobs/") {
			t.Errorf("blob downloaded again: %s", r)
		}
	}
}

func TestPlainHTTPGuard(t *testing.T) {
	g := &httpsOnly{inner: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	}), allowed: func(h string) bool { return h == "127.0.0.1:5000" }}
	tests := []struct {
		url     string
		wantErr bool
	}{
		{"http://127.0.0.1:5000/v2/", false},
		{"https://10.1.2.3:5000/v2/", false},
		{"http://10.1.2.3:5000/v2/", true},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
		_, err := g.RoundTrip(req)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, wantErr %v", tc.url, err, tc.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "insecure_registries") {
			t.Errorf("%s: error does not say how to allow it: %v", tc.url, err)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
