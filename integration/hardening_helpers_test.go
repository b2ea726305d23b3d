//go:build integration && hardening

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/opencode-cloud/occ/internal/chaosproxy"
	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
)

// The hardening suites (build tag hardening; `make chaos`, `make kill`,
// `make hardening`) drive the real occ binary against the testbed with
// faults injected: chaos_test.go (a misbehaving registry), kill_test.go
// (SIGKILL at random points) and concurrency_test.go (8 occ at once).

// hardTuning keeps retries short: 3 retries from 20ms, Retry-After capped
// at 2s, a stall given up after 1s.
const hardTuning = "retries=3,backoff=20ms,max-wait=2s,stall=1s"

// Repositories on the testbed registry (and behind the proxy).
const (
	chaosRepo   = "test/chaos"        // image B as an index (amd64 + arm64)
	chaosMirror = "test/chaos-mirror" // the same index: the healthy fallback
	chaosOther  = "test/chaos-other"  // image C, a lone manifest: what a swapped manifest serves
)

// chaosImage is what the registry holds for one image.
type chaosImage struct {
	ref      string
	top      digest.Digest // index, or the manifest itself
	manifest digest.Digest // the linux/amd64 manifest
	config   ocispec.Descriptor
	layers   []ocispec.Descriptor
	index    bool
}

func (c chaosImage) blobs() []ocispec.Descriptor {
	return append([]ocispec.Descriptor{c.config}, c.layers...)
}

// hardEnv is a cmdFixture with the sandbox running image A (the runtime
// test app), a previous image record, a state file with a previous entry,
// images B (A plus three small random layers, as an index) and C (A plus
// two other layers) in the registry, and a chaos proxy in front of it.
type hardEnv struct {
	*cmdFixture
	reg       string
	proxy     *chaosproxy.Proxy
	proxyAddr string
	a, b, c   chaosImage
	recA      images.Image // the current record as set up
	recPrev   images.Image // the previous record as set up
	stateLag  int          // kill tests: times the state lagged the current record
	snapshots int          // kill tests: snapshots after the final garbage collection
	stateA    []byte       // the state file as set up

	ingestsBefore []string // kill tests: occ's temporary dirs in the content root before the run
}

func newHardEnv(t *testing.T, running bool) *hardEnv {
	t.Helper()
	e := rtTestbed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	t.Cleanup(cancel)
	proxy, addr, err := chaosproxy.Start(ctx, e.registry)
	if err != nil {
		t.Fatal(err)
	}
	f := newCmdFixture(t, func(c *meta.Config) {
		c.ImageRepositories = []string{addr + "/" + chaosRepo}
	})
	f.ctx = ctx
	dropLeftovers(t, f)
	h := &hardEnv{cmdFixture: f, reg: e.registry, proxy: proxy, proxyAddr: addr}
	h.env = append(h.env, "OCC_PULL_TUNING="+hardTuning)

	appRef := rtAppImage(t, e)
	base, err := remote.Image(mustRef(t, appRef))
	if err != nil {
		t.Fatal(err)
	}
	h.a = describe(t, appRef, base, nil)
	h.b = pushVariant(t, e.registry, base, []int64{24 << 10, 96 << 10, 200 << 10}, true, chaosRepo, chaosMirror)
	h.c = pushVariant(t, e.registry, base, []int64{16 << 10, 48 << 10}, false, chaosOther)

	now := time.Now().UTC().Truncate(time.Second)
	provA := meta.Provenance{Source: meta.SourcePrebuilt, Registry: e.registry, Repository: e.registry + "/test/runtime-app",
		Reference: appRef, Platform: "linux/amd64", AcquiredAt: now, ImageVersion: "1.0.0"}
	f.importImage(provA)
	nctx := f.client.WithNamespace(ctx)
	rec, err := f.client.ImageService().Get(nctx, meta.CurrentImageName)
	if err != nil {
		t.Fatal(err)
	}
	provA.ManifestDigest = rec.Target.Digest.String()
	h.recA = rec
	// The previous image: A again, acquired a day earlier.
	prev := provA
	prev.AcquiredAt = now.Add(-24 * time.Hour)
	prev.ImageVersion = "0.9.0"
	prevRec := images.Image{Name: meta.PreviousImageName, Target: rec.Target, Labels: prev.Labels()}
	if h.recPrev, err = f.client.ImageService().Create(nctx, prevRec); err != nil {
		t.Fatal(err)
	}
	if err := meta.SaveState(f.paths.StateFile(), &meta.ImageState{Provenance: provA, Previous: &prev}); err != nil {
		t.Fatal(err)
	}
	if h.stateA, err = os.ReadFile(f.paths.StateFile()); err != nil {
		t.Fatal(err)
	}
	if running {
		f.startSandbox()
	}
	return h
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// describe lists an image's digests (index: the index that holds img).
func describe(t *testing.T, ref string, img v1.Image, idx v1.ImageIndex) chaosImage {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	md, _ := img.Digest()
	c := chaosImage{ref: ref, top: digest.Digest(md.String()), manifest: digest.Digest(md.String())}
	c.config = ocispec.Descriptor{MediaType: string(m.Config.MediaType), Digest: digest.Digest(m.Config.Digest.String()), Size: m.Config.Size}
	for _, l := range m.Layers {
		c.layers = append(c.layers, ocispec.Descriptor{MediaType: string(l.MediaType), Digest: digest.Digest(l.Digest.String()), Size: l.Size})
	}
	if idx != nil {
		id, _ := idx.Digest()
		c.top, c.index = digest.Digest(id.String()), true
	}
	return c
}

// pushVariant pushes base plus random layers of the given sizes to repos
// (as an index with an arm64 sibling when asIndex).
func pushVariant(t *testing.T, reg string, base v1.Image, sizes []int64, asIndex bool, repos ...string) chaosImage {
	t.Helper()
	img := base
	for _, n := range sizes {
		l, err := random.Layer(n, types.DockerLayer)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	var idx v1.ImageIndex
	if asIndex {
		arm, err := random.Image(2048, 1)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(empty.Index,
			mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
			mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	}
	for _, repo := range repos {
		r := mustRef(t, reg+"/"+repo+":latest")
		var err error
		if asIndex {
			err = remote.WriteIndex(r, idx)
		} else {
			err = remote.Write(r, img)
		}
		if err != nil {
			t.Fatalf("push %s: %v", r, err)
		}
	}
	return describe(t, reg+"/"+repos[0]+":latest", img, idx)
}

// storeSnap is everything a failed or killed occ must leave as it was.
type storeSnap struct {
	images     map[string]string // name -> target, media type, labels
	content    []string
	ingests    []string
	snapshots  []string
	leases     []string
	state      []byte
	containers []string // id, image, snapshot key, task status
}

func (s storeSnap) String() string {
	return fmt.Sprintf("%d images, %d blobs, %d ingests, %d snapshots, %d leases, %d containers", len(s.images), len(s.content),
		len(s.ingests), len(s.snapshots), len(s.leases), len(s.containers))
}

// gc runs containerd's garbage collector to completion: a synchronous
// image delete waits for a collection. What a lease or a record still
// holds survives it; everything else goes.
func (h *hardEnv) gc() {
	h.t.Helper()
	ctx := h.client.WithNamespace(h.ctx)
	is := h.client.ImageService()
	rec := images.Image{Name: "occ-hardening-gc-trigger", Target: h.recA.Target}
	if _, err := is.Create(ctx, rec); err != nil && !errdefs.IsAlreadyExists(err) {
		h.t.Fatalf("gc trigger: %v", err)
	}
	if err := is.Delete(ctx, rec.Name, images.SynchronousDelete()); err != nil {
		h.t.Fatalf("gc: %v", err)
	}
}

// snap collects the store after a garbage collection.
func (h *hardEnv) snap() storeSnap {
	h.t.Helper()
	h.gc()
	ctx := h.client.WithNamespace(h.ctx)
	var s storeSnap
	imgs, err := h.client.ImageService().List(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	s.images = map[string]string{}
	for _, i := range imgs {
		labels, _ := json.Marshal(i.Labels) // sorted keys
		s.images[i.Name] = fmt.Sprintf("%s %s %s", i.Target.Digest, i.Target.MediaType, labels)
	}
	cs := h.client.ContentStore()
	if err := cs.Walk(ctx, func(i content.Info) error { s.content = append(s.content, i.Digest.String()); return nil }); err != nil {
		h.t.Fatal(err)
	}
	st, err := cs.ListStatuses(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, i := range st {
		s.ingests = append(s.ingests, i.Ref)
	}
	err = ctrd(h.t, h.client).SnapshotService("overlayfs").Walk(ctx, func(_ context.Context, i snapshots.Info) error {
		s.snapshots = append(s.snapshots, i.Name+" <- "+i.Parent)
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ls, err := h.client.LeasesService().List(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, l := range ls {
		s.leases = append(s.leases, l.ID)
	}
	s.state, _ = os.ReadFile(h.paths.StateFile())
	cs2, err := ctrd(h.t, h.client).Containers(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, c := range cs2 {
		info, err := c.Info(ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		status := "no task"
		if task, err := c.Task(ctx, nil); err == nil {
			if st, err := task.Status(ctx); err == nil {
				status = fmt.Sprintf("%s pid %d", st.Status, task.Pid())
			}
		}
		s.containers = append(s.containers, fmt.Sprintf("%s image=%s snapshot=%s %s", info.ID, info.Image, info.SnapshotKey, status))
	}
	for _, l := range [][]string{s.content, s.ingests, s.snapshots, s.leases, s.containers} {
		sort.Strings(l)
	}
	return s
}

// diff lists how after differs from before.
func (before storeSnap) diff(after storeSnap) []string {
	var out []string
	for n, v := range before.images {
		if w, ok := after.images[n]; !ok {
			out = append(out, "image record "+n+" is gone")
		} else if w != v {
			out = append(out, fmt.Sprintf("image record %s changed: %s -> %s", n, v, w))
		}
	}
	for n := range after.images {
		if _, ok := before.images[n]; !ok {
			out = append(out, "new image record "+n+": "+after.images[n])
		}
	}
	set := func(what string, a, b []string) {
		for _, x := range b {
			if !slices.Contains(a, x) {
				out = append(out, fmt.Sprintf("new %s: %s", what, x))
			}
		}
		for _, x := range a {
			if !slices.Contains(b, x) {
				out = append(out, fmt.Sprintf("%s gone: %s", what, x))
			}
		}
	}
	set("content blob", before.content, after.content)
	set("ingest", before.ingests, after.ingests)
	set("snapshot", before.snapshots, after.snapshots)
	set("lease", before.leases, after.leases)
	set("container", before.containers, after.containers)
	if !bytes.Equal(before.state, after.state) {
		out = append(out, fmt.Sprintf("state file changed:\n%s\n->\n%s", before.state, after.state))
	}
	return out
}

// reset puts the current record and the state file back as set up.
func (h *hardEnv) reset() {
	h.t.Helper()
	ctx := h.client.WithNamespace(h.ctx)
	if _, err := h.client.ImageService().Update(ctx, h.recA, "target", "labels"); err != nil {
		h.t.Fatalf("reset the current record: %v", err)
	}
	if err := meta.WriteFileAtomic(h.paths.StateFile(), h.stateA, 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// checkPulled lists how the store fails to hold want as the current
// image, pulled whole, with the previous entry and record unchanged.
func (h *hardEnv) checkPulled(want chaosImage, before storeSnap, after storeSnap) []string {
	ctx := h.client.WithNamespace(h.ctx)
	var out []string
	bad := func(f string, a ...any) { out = append(out, fmt.Sprintf(f, a...)) }
	rec, err := h.client.ImageService().Get(ctx, meta.CurrentImageName)
	if err != nil {
		return []string{"no current image record: " + err.Error()}
	}
	if rec.Target.Digest != want.top {
		bad("current image is %s, the registry's is %s", rec.Target.Digest, want.top)
	}
	prov, ok := meta.ProvenanceFromLabels(rec.Labels)
	switch {
	case !ok:
		bad("current record has no provenance labels: %v", rec.Labels)
	case prov.ManifestDigest != want.manifest.String():
		bad("provenance manifest %s, the registry's amd64 manifest is %s", prov.ManifestDigest, want.manifest)
	case want.index && prov.IndexDigest != want.top.String():
		bad("provenance index %s, want %s", prov.IndexDigest, want.top)
	}
	for _, d := range want.blobs() {
		info, err := h.client.ContentStore().Info(ctx, d.Digest)
		if err != nil {
			bad("blob %s missing: %v", d.Digest, err)
		} else if info.Size != d.Size {
			bad("blob %s is %d bytes, the registry's %d", d.Digest, info.Size, d.Size)
		}
	}
	unpacked, err := containerd.NewImageWithPlatform(ctrd(h.t, h.client), rec, platforms.Only(amd64)).IsUnpacked(ctx, "overlayfs")
	if err != nil || !unpacked {
		bad("current image not unpacked (%v)", err)
	}
	st, err := meta.LoadState(h.paths.StateFile())
	if err != nil || st == nil {
		bad("state file unreadable: %v", err)
	} else {
		if st.ManifestDigest != want.manifest.String() {
			bad("state says manifest %s, want %s", st.ManifestDigest, want.manifest)
		}
		old, _ := meta.ParseState("", before.state)
		if old != nil && fmt.Sprint(old.Previous) != fmt.Sprint(st.Previous) {
			bad("state's previous entry changed: %+v -> %+v", old.Previous, st.Previous)
		}
	}
	if before.images[meta.PreviousImageName] != after.images[meta.PreviousImageName] {
		bad("previous record changed: %s -> %s", before.images[meta.PreviousImageName], after.images[meta.PreviousImageName])
	}
	if !slices.Equal(before.leases, after.leases) {
		bad("leases %v -> %v", before.leases, after.leases)
	}
	for _, i := range after.ingests {
		if !slices.Contains(before.ingests, i) {
			bad("ingest left: %s", i)
		}
	}
	if !slices.Equal(before.containers, after.containers) {
		bad("containers %v -> %v", before.containers, after.containers)
	}
	return out
}

// run runs occ with a deadline and returns its result.
func (h *hardEnv) run(timeout time.Duration, args ...string) occResult {
	h.t.Helper()
	return resultOf(testutil.Run(h.ctx, h.t, h.bin, h.env, "", timeout, args...))
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\nError: "); i >= 0 {
		s = s[i+1:]
	}
	s = strings.ReplaceAll(s, "\n", " | ")
	if len(s) > 150 {
		s = s[:150] + "…"
	}
	return s
}

// dropLeftovers deletes the leases and ingests earlier runs left in the
// shared command-test namespace (killed pulls leave theirs to expire).
func dropLeftovers(t *testing.T, f *cmdFixture) {
	t.Helper()
	ctx := f.client.WithNamespace(f.ctx)
	ls, err := f.client.LeasesService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if err := f.client.LeasesService().Delete(ctx, l); err != nil && !errdefs.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	st, err := f.client.ContentStore().ListStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if err := f.client.ContentStore().Abort(ctx, s.Ref); err != nil && !errdefs.IsNotFound(err) {
			t.Fatal(err)
		}
	}
}
