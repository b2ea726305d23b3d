//go:build integration

package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

var amd64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}

func testbed(t *testing.T) (addr, reg string) {
	t.Helper()
	tb := testutil.RequireTestbed(t)
	return tb.Containerd, tb.Registry
}

// pullEnv is a containerd connection in a namespace of its own, so tests
// do not see each other's images.
type pullEnv struct {
	t      *testing.T
	client *runtime.Client
	ctx    context.Context
	reg    string
	ns     string
	gets   atomic.Int64 // registry GETs of manifests and blobs
	blobs  atomic.Int64
}

func newPullEnv(t *testing.T) *pullEnv {
	t.Helper()
	addr, reg := testbed(t)
	ns := fmt.Sprintf("occ-it-pull-%d", time.Now().UnixNano())
	c, err := runtime.Connect(context.Background(), addr, ns, "overlayfs")
	if err != nil {
		t.Fatal(err)
	}
	e := &pullEnv{t: t, client: c, ctx: c.WithNamespace(context.Background()), reg: reg, ns: ns}
	t.Cleanup(func() {
		is := c.ImageService()
		if imgs, err := is.List(e.ctx); err == nil {
			for _, i := range imgs {
				_ = is.Delete(e.ctx, i.Name, images.SynchronousDelete())
			}
		}
		c.Close()
	})
	return e
}

type countingTransport struct{ e *pullEnv }

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && (strings.Contains(r.URL.Path, "/manifests/") || strings.Contains(r.URL.Path, "/blobs/")) {
		c.e.gets.Add(1)
		if strings.Contains(r.URL.Path, "/blobs/") {
			c.e.blobs.Add(1)
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

type events struct {
	mu  sync.Mutex
	all []registry.Event
}

func (ev *events) add(e registry.Event) {
	if e.Kind == registry.EventBlobProgress {
		return
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.all = append(ev.all, e)
}

func (ev *events) of(k registry.EventKind) []registry.Event {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var out []registry.Event
	for _, e := range ev.all {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func (e *pullEnv) pull(src registry.Source, ev *events, opts ...registry.Option) (*registry.Result, error) {
	e.gets.Store(0)
	e.blobs.Store(0)
	if ev == nil {
		ev = &events{}
	}
	base := []registry.Option{
		registry.WithPlatform(amd64), registry.WithUnpacker(streaming{e.client.Unpacker()}),
		registry.WithKeychain(authn.NewMultiKeychain()), registry.WithTransport(countingTransport{e}),
		registry.WithRetry(1, 10*time.Millisecond), registry.WithProgress(ev.add),
	}
	stores := registry.Stores{Content: e.client.ContentStore(), Images: e.client.ImageService(), Leases: e.client.LeasesService()}
	return registry.Pull(e.ctx, stores, src, append(base, opts...)...)
}

// streaming adapts runtime's ImageUnpacker to registry.StreamUnpacker
// (as cmd/occ does), so pulls apply layers in-process while downloading.
type streaming struct{ *runtime.ImageUnpacker }

func (s streaming) StartStream(ctx context.Context, config ocispec.Descriptor, layers []ocispec.Descriptor, diffIDs []digest.Digest) (registry.LayerStream, error) {
	ls, err := s.ImageUnpacker.StartStream(ctx, config, layers, diffIDs)
	if err != nil {
		return nil, err
	}
	return ls, nil
}

// assertNoSnapshots checks that a failed pull left no snapshot behind in
// the test's namespace.
func (e *pullEnv) assertNoSnapshots() {
	e.t.Helper()
	var keys []string
	err := ctrd(e.t, e.client).SnapshotService("overlayfs").Walk(e.ctx, func(_ context.Context, i snapshots.Info) error {
		keys = append(keys, i.Name)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(keys) != 0 {
		e.t.Errorf("%d snapshot(s) left: %v", len(keys), keys)
	}
}

// assertRuns runs busybox echo in the pulled image with ctr.
func (e *pullEnv) assertRuns(name string) {
	e.t.Helper()
	id := fmt.Sprintf("occ-it-%d", time.Now().UnixNano())
	cmd := exec.Command("ctr", "-a", e.client.Address, "-n", e.ns, "run", "--rm", name, id, "/bin/echo", "hello from "+id)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hello from "+id) {
		e.t.Fatalf("ctr run %s: %v\n%s", name, err, out)
	}
}

func (e *pullEnv) assertUnpacked(res *registry.Result, p ocispec.Platform) {
	e.t.Helper()
	ok, err := e.client.Unpacker().Unpacked(e.ctx, res.Image, p)
	if err != nil || !ok {
		e.t.Fatalf("image %s not unpacked (%v)", res.Name, err)
	}
}

func (e *pullEnv) assertNoLeases() {
	e.t.Helper()
	ls, err := e.client.LeasesService().List(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(ls) != 0 {
		e.t.Errorf("%d lease(s) left", len(ls))
	}
}

// busybox is the testbed's seeded image.
func busybox(t *testing.T, reg string) v1.Image {
	t.Helper()
	ref, err := name.ParseReference(reg + "/test/busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("the testbed's busybox: %v", err)
	}
	return img
}

// rebuild makes busybox anew with the given manifest/config/layer media
// types and layer compression.
func rebuild(t *testing.T, base v1.Image, manifestMT, configMT, layerMT types.MediaType, comp compression.Compression) v1.Image {
	t.Helper()
	cf, err := base.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := base.Layers()
	if err != nil {
		t.Fatal(err)
	}
	img := mutate.MediaType(empty.Image, manifestMT)
	img = mutate.ConfigMediaType(img, configMT)
	for _, l := range layers {
		nl, err := tarball.LayerFromOpener(l.Uncompressed, tarball.WithCompression(comp), tarball.WithMediaType(layerMT))
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: nl, MediaType: layerMT}); err != nil {
			t.Fatal(err)
		}
	}
	ncf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	ncf = ncf.DeepCopy()
	ncf.OS, ncf.Architecture, ncf.Config = cf.OS, cf.Architecture, cf.Config
	if ncf.OS == "" {
		ncf.OS, ncf.Architecture = "linux", "amd64"
	}
	ncf.Config.Labels = map[string]string{meta.ImageVersionLabel: "9.9.9-" + string(comp)}
	img, err = mutate.ConfigFile(img, ncf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func push(t *testing.T, ref string, img v1.Image) digest.Digest {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, _ := img.Digest()
	return digest.Digest(d.String())
}

func TestPullMediaTypesRun(t *testing.T) {
	_, reg := testbed(t)
	bb := busybox(t, reg)
	tests := []struct {
		name                string
		manifest, config, l types.MediaType
		comp                compression.Compression
	}{
		{"oci-gzip", types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer, compression.GZip},
		{"oci-zstd", types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayerZStd, compression.ZStd},
		{"docker-schema2-gzip", types.DockerManifestSchema2, types.DockerConfigJSON, types.DockerLayer, compression.GZip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newPullEnv(t)
			img := rebuild(t, bb, tc.manifest, tc.config, tc.l, tc.comp)
			repo := reg + "/it/pull-" + tc.name
			want := push(t, repo+":v1", img)
			res, err := e.pull(registry.Source{Repositories: []string{repo}, Tag: "v1"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Image.Target.Digest != want || res.Image.Target.MediaType != string(tc.manifest) {
				t.Errorf("record target %v, want %s (%s)", res.Image.Target, want, tc.manifest)
			}
			if res.Provenance.ImageVersion != "9.9.9-"+string(tc.comp) || res.Provenance.Platform != "linux/amd64" {
				t.Errorf("provenance %+v", res.Provenance)
			}
			e.assertUnpacked(res, amd64)
			e.assertNoLeases()
			e.assertRuns(meta.CurrentImageName)
		})
	}
}

func TestPullIndexWithAttestationAndRepull(t *testing.T) {
	_, reg := testbed(t)
	e := newPullEnv(t)
	amdImg := rebuild(t, busybox(t, reg), types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer, compression.GZip)
	armImg, _ := random.Image(1024, 1)
	att, _ := random.Image(256, 1)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"}}},
		mutate.IndexAddendum{Add: armImg, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amdImg, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	repo := reg + "/it/pull-index"
	r, _ := name.ParseReference(repo + ":multi")
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	amdDigest, _ := amdImg.Digest()

	res, err := e.pull(registry.Source{Repositories: []string{repo}, Tag: "multi"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := res.Provenance
	if p.IndexDigest != idxDigest.String() || p.ManifestDigest != amdDigest.String() || p.Platform != "linux/amd64" {
		t.Errorf("provenance %+v", p)
	}
	e.assertUnpacked(res, amd64)
	e.assertRuns(meta.CurrentImageName)

	// Re-pull: one manifest GET, no blob, nothing changed.
	res2, err := e.pull(registry.Source{Repositories: []string{repo}, Tag: "multi"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res2.UpToDate || res2.FetchedBytes != 0 || e.gets.Load() != 1 || e.blobs.Load() != 0 {
		t.Errorf("re-pull: UpToDate=%v fetched=%d GETs=%d blob GETs=%d; want one manifest GET", res2.UpToDate, res2.FetchedBytes, e.gets.Load(), e.blobs.Load())
	}
	if !res2.Provenance.AcquiredAt.Equal(p.AcquiredAt) {
		t.Errorf("re-pull changed the record: acquired %v -> %v", p.AcquiredAt, res2.Provenance.AcquiredAt)
	}

	// Same content under another name (update's staging pull): no blob downloads.
	res3, err := e.pull(registry.Source{Repositories: []string{repo}, Tag: "multi"}, nil, registry.WithName(meta.PreviousImageName))
	if err != nil {
		t.Fatal(err)
	}
	if e.blobs.Load() != 0 || res3.FetchedBytes != 0 {
		t.Errorf("pull of present content under a new name fetched %d blobs, %d bytes", e.blobs.Load(), res3.FetchedBytes)
	}
	e.assertNoLeases()
}

func TestPullDigestPinAndFallback(t *testing.T) {
	_, reg := testbed(t)
	img := rebuild(t, busybox(t, reg), types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer, compression.GZip)
	repo := reg + "/it/pull-pin"
	pin := push(t, repo+":v1", img)
	missing := reg + "/it/does-not-exist"
	dead := "127.0.0.1:1/it/dead"

	t.Run("pin served by the second repository after a 404 and a dead one", func(t *testing.T) {
		e := newPullEnv(t)
		ev := &events{}
		res, err := e.pull(registry.Source{Repositories: []string{dead, missing, repo}, Digest: pin}, ev)
		if err != nil {
			t.Fatal(err)
		}
		if res.Image.Target.Digest != pin || res.Provenance.Reference != repo+"@"+pin.String() {
			t.Errorf("record %v, provenance %+v", res.Image.Target, res.Provenance)
		}
		if fb := ev.of(registry.EventFallback); len(fb) != 2 || fb[0].Repository != dead || fb[1].Repository != missing {
			t.Errorf("fallback events %+v", fb)
		}
		e.assertRuns(meta.CurrentImageName)
		e.assertNoLeases()
	})
	t.Run("tag falls back to the second repository", func(t *testing.T) {
		e := newPullEnv(t)
		ev := &events{}
		res, err := e.pull(registry.Source{Repositories: []string{missing, repo}, Tag: "v1"}, ev)
		if err != nil {
			t.Fatal(err)
		}
		if res.Provenance.Repository != repo || len(ev.of(registry.EventFallback)) != 1 {
			t.Errorf("provenance %+v, fallbacks %d", res.Provenance, len(ev.of(registry.EventFallback)))
		}
	})
	t.Run("pin mismatch leaves the previous image", func(t *testing.T) {
		e := newPullEnv(t)
		if _, err := e.pull(registry.Source{Repositories: []string{repo}, Digest: pin}, nil); err != nil {
			t.Fatal(err)
		}
		before, err := e.client.ImageService().Get(e.ctx, meta.CurrentImageName)
		if err != nil {
			t.Fatal(err)
		}
		other := digest.FromString("not the sandbox")
		_, err = e.pull(registry.Source{Repositories: []string{missing, repo}, Digest: other}, nil)
		var pe *registry.PullError
		if !errors.As(err, &pe) || len(pe.Failures) != 2 || !errdefs.IsNotFound(err) {
			t.Fatalf("err = %v, want a not-found PullError naming both repositories", err)
		}
		for _, s := range []string{missing + "@" + other.String(), repo + "@" + other.String()} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error lacks %s: %v", s, err)
			}
		}
		after, err := e.client.ImageService().Get(e.ctx, meta.CurrentImageName)
		if err != nil || after.Target.Digest != before.Target.Digest || !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("previous image changed: %v -> %v (%v)", before.Target, after.Target, err)
		}
		e.assertNoLeases()
		e.assertRuns(meta.CurrentImageName)
	})
}

// TestPullTamperedLayerViaProxy serves the testbed registry through a proxy
// that flips one byte of a layer: the pull fails, nothing is recorded.
func TestPullTamperedLayerViaProxy(t *testing.T) {
	_, reg := testbed(t)
	img := rebuild(t, busybox(t, reg), types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer, compression.GZip)
	// A fresh random layer: the busybox layers may already be in
	// containerd's (shared) content store and would not be downloaded.
	extra, err := random.Layer(64<<10, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.AppendLayers(img, extra); err != nil {
		t.Fatal(err)
	}
	repo := reg + "/it/pull-tamper"
	push(t, repo+":v1", img)
	e := newPullEnv(t)
	tamper := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil || !strings.Contains(r.URL.Path, "/blobs/") || resp.StatusCode != http.StatusOK || resp.ContentLength < 10000 {
			return resp, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		b[len(b)/2] ^= 0x01
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return resp, nil
	})
	root, err := e.client.LocalContentRoot(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, stream := range []int{2, 1, 0} {
		u := e.client.Unpacker()
		u.NoStream = stream == 0
		opts := []registry.Option{registry.WithTransport(tamper), registry.WithUnpacker(streaming{u})}
		if stream == 2 { // blobs written straight into the content root
			opts = append(opts, registry.WithLocalContentRoot(root))
		}
		_, err = e.pull(registry.Source{Repositories: []string{repo}, Tag: "v1"}, nil, opts...)
		if !errors.Is(err, registry.ErrDigestMismatch) {
			t.Fatalf("stream=%v: err = %v, want a digest mismatch", stream, err)
		}
		if _, err := e.client.ImageService().Get(e.ctx, meta.CurrentImageName); !errdefs.IsNotFound(err) {
			t.Errorf("stream=%v: image recorded after a failed pull (%v)", stream, err)
		}
		e.assertNoLeases()
		e.assertNoSnapshots()
	}
}

// TestPullStreamCleanup: the in-process unpack fails mid-image (a config
// whose diff ID for the second layer is wrong, so the first layer is
// already applied and more are in flight): the error is a digest mismatch
// and no snapshot, lease, ingest or record is left.
func TestPullStreamCleanup(t *testing.T) {
	_, reg := testbed(t)
	stamp := fmt.Sprint(time.Now().UnixNano())
	img, err := mutate.AppendLayers(empty.Image,
		tarLayer(t, map[string]string{"a": "a " + stamp}),
		tarLayer(t, map[string]string{"b": "b " + stamp}),
		tarLayer(t, map[string]string{"c": "c " + stamp}))
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.RootFS.DiffIDs[1] = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("cd", 32)}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	repo := reg + "/it/pull-stream-cleanup"
	push(t, repo+":"+stamp, img)
	e := newPullEnv(t)
	res, err := e.pull(registry.Source{Repositories: []string{repo}, Tag: stamp}, nil)
	if !errors.Is(err, registry.ErrDigestMismatch) || !strings.Contains(err.Error(), strings.Repeat("cd", 32)) {
		t.Fatalf("err = %v (%+v), want a diff ID mismatch", err, res)
	}
	if _, err := e.client.ImageService().Get(e.ctx, meta.CurrentImageName); !errdefs.IsNotFound(err) {
		t.Errorf("image recorded after a failed pull (%v)", err)
	}
	e.assertNoLeases()
	e.assertNoSnapshots()
	if sts, err := e.client.ContentStore().ListStatuses(e.ctx); err != nil || len(sts) != 0 {
		t.Errorf("ingests left: %v (%v)", sts, err)
	}
}

// TestPullStreamFallback: with the in-process unpack off (as when occ is
// not root, containerd is remote or the snapshotter cannot rebase),
// containerd's unpacker does the work and the image is the same.
func TestPullStreamFallback(t *testing.T) {
	_, reg := testbed(t)
	img := rebuild(t, busybox(t, reg), types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer, compression.GZip)
	repo := reg + "/it/pull-stream-fallback"
	push(t, repo+":v1", img)
	for _, mode := range []string{"stream", "stream+local-content", "containerd"} {
		stream := mode != "containerd"
		e := newPullEnv(t)
		u := e.client.Unpacker()
		u.NoStream = !stream
		opts := []registry.Option{registry.WithUnpacker(streaming{u})}
		var root string
		if mode == "stream+local-content" {
			var err error
			if root, err = e.client.LocalContentRoot(e.ctx); err != nil {
				t.Fatalf("LocalContentRoot: %v", err)
			}
			opts = append(opts, registry.WithLocalContentRoot(root))
		}
		res, err := e.pull(registry.Source{Repositories: []string{repo}, Tag: "v1"}, nil, opts...)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if root != "" {
			if m, _ := filepath.Glob(filepath.Join(root, ".occ-ingest-*")); len(m) != 0 {
				t.Errorf("temporary files left in %s: %v", root, m)
			}
		}
		// Containerd < 2.0 cannot rebase: the stream modes fall back to containerd's unpacker.
		leg := tbLeg(t)
		if want := stream && leg.stream; res.InProcessUnpack != want || (stream && !leg.stream && res.UnpackNote != leg.unpackNote()) {
			t.Errorf("leg %s, stream=%v: InProcessUnpack=%v (%s)", leg.name, stream, res.InProcessUnpack, res.UnpackNote)
		}
		e.assertUnpacked(res, amd64)
		e.assertRuns(meta.CurrentImageName)
		e.assertNoLeases()
		// The result is what containerd's unpacker makes: same chain IDs,
		// the uncompressed label on the layers, the GC label on the config.
		m, err := images.Manifest(e.ctx, e.client.ContentStore(), res.Image.Target, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range m.Layers {
			info, err := e.client.ContentStore().Info(e.ctx, l.Digest)
			if err != nil || info.Labels["containerd.io/uncompressed"] == "" {
				t.Errorf("stream=%v: layer %s labels %v (%v)", stream, l.Digest, info.Labels, err)
			}
		}
		info, err := e.client.ContentStore().Info(e.ctx, m.Config.Digest)
		if err != nil || info.Labels["containerd.io/gc.ref.snapshot.overlayfs"] == "" {
			t.Errorf("stream=%v: config labels %v (%v)", stream, info.Labels, err)
		}
		// Warm: nothing fetched, no stream started.
		res, err = e.pull(registry.Source{Repositories: []string{repo}, Tag: "v1"}, nil, opts...)
		if err != nil || !res.UpToDate || e.blobs.Load() != 0 || e.gets.Load() != 1 {
			t.Errorf("stream=%v: warm pull %v UpToDate=%v blobs=%d gets=%d", stream, err, res != nil && res.UpToDate, e.blobs.Load(), e.gets.Load())
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// tarLayer makes a gzip layer from name->content entries; an empty
// content with a ".wh." name is a whiteout.
func tarLayer(t *testing.T, files map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestPullLayersApplyInOrder checks that layers unpacked as they arrive,
// in order or in parallel (Parallel > 1, on a snapshotter that can rebase),
// still stack correctly: later layers overwrite and white out earlier files.
func TestPullLayersApplyInOrder(t *testing.T) {
	_, reg := testbed(t)
	for _, parallel := range []int{0, 1, 3} {
		name := fmt.Sprintf("parallel=%d", parallel)
		if parallel == 0 {
			name = "in-process"
		}
		t.Run(name, func(t *testing.T) {
			e := newPullEnv(t)
			stamp := fmt.Sprint(time.Now().UnixNano()) // fresh layers: nothing reused
			repo := reg + "/it/pull-layers"
			push(t, repo+":"+stamp, layeredImage(t, reg, stamp))
			u := e.client.Unpacker()
			u.Parallel = parallel
			u.NoStream = parallel != 0
			res, err := e.pull(registry.Source{Repositories: []string{repo}, Tag: stamp}, nil, registry.WithUnpacker(streaming{u}))
			if err != nil {
				t.Fatal(err)
			}
			if res.InProcessUnpack != (parallel == 0) {
				t.Errorf("InProcessUnpack=%v (%s)", res.InProcessUnpack, res.UnpackNote)
			}
			e.assertLayeredData(stamp)
		})
	}
}

// layeredImage is busybox with three fresh layers that overwrite, delete
// (whiteout) and add files under /data; assertLayeredData checks them.
func layeredImage(t *testing.T, reg, stamp string) v1.Image {
	t.Helper()
	img := rebuild(t, busybox(t, reg), types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer, compression.GZip)
	img, err := mutate.AppendLayers(img,
		tarLayer(t, map[string]string{"data/a": "a1 " + stamp, "data/b": "b1 " + stamp, "data/c": "c1 " + stamp}),
		tarLayer(t, map[string]string{"data/a": "a2 " + stamp, "data/.wh.b": ""}),
		tarLayer(t, map[string]string{"data/c": "c3 " + stamp, "data/d": "d3 " + stamp}),
	)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// assertLayeredData runs the current image (a layeredImage) and checks
// what the container sees under /data.
func (e *pullEnv) assertLayeredData(stamp string) {
	t := e.t
	t.Helper()
	id := fmt.Sprintf("occ-it-%d", time.Now().UnixNano())
	out, err := exec.Command("ctr", "-a", e.client.Address, "-n", e.ns, "run", "--rm", meta.CurrentImageName, id,
		"/bin/sh", "-c", "cat /data/a /data/c /data/d; ls /data").CombinedOutput()
	if err != nil {
		t.Fatalf("ctr run: %v\n%s", err, out)
	}
	want := fmt.Sprintf("a2 %[1]sc3 %[1]sd3 %[1]sa\nc\nd\n", stamp)
	if got := strings.ReplaceAll(string(out), "\r", ""); !strings.HasSuffix(got, want) {
		t.Errorf("container sees:\n%q\nwant:\n%q", got, want)
	}
}

// TestPullStoredBlobsApplyInProcess: blobs that containerd already has (a
// pull in another namespace, shared by containerd's default policy) are
// not downloaded again; their layers are applied in-process from the
// store, read straight from the content root when occ writes there and
// through the content API otherwise.
func TestPullStoredBlobsApplyInProcess(t *testing.T) {
	_, reg := testbed(t)
	for _, direct := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-root=%v", direct), func(t *testing.T) {
			stamp := fmt.Sprint(time.Now().UnixNano())
			repo := reg + "/it/pull-stored"
			push(t, repo+":"+stamp, layeredImage(t, reg, stamp))
			var opts []registry.Option
			first := newPullEnv(t)
			if direct {
				root, err := first.client.LocalContentRoot(first.ctx)
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, registry.WithLocalContentRoot(root))
			}
			src := registry.Source{Repositories: []string{repo}, Tag: stamp}
			if _, err := first.pull(src, nil, opts...); err != nil {
				t.Fatal(err)
			}
			if first.blobs.Load() == 0 {
				t.Fatal("the first pull fetched no blob: its layers were not fresh")
			}
			e := newPullEnv(t)
			res, err := e.pull(src, nil, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if leg := tbLeg(t); res.InProcessUnpack != leg.stream || res.UnpackNote != leg.unpackNote() {
				t.Errorf("leg %s: InProcessUnpack=%v (%s)", leg.name, res.InProcessUnpack, res.UnpackNote)
			}
			if n := e.blobs.Load(); n != 0 {
				t.Errorf("second pull fetched %d blobs, want 0 (containerd shares them)", n)
			}
			e.assertLayeredData(stamp)
			e.assertNoLeases()
		})
	}
}
