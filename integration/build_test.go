//go:build integration

package integration

// Build-from-source tests (issue 4): pkg/build against both testbed BuildKit
// daemons. Helpers here are prefixed "bt" so they do not collide with the
// rest of the suite.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	bkclient "github.com/moby/buildkit/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// btEnv is the testbed as the build tests need it.
type btEnv struct {
	dir, containerd, registry string
	workers                   []btWorker
}

type btWorker struct {
	name      string // containerd | oci
	address   string
	namespace string // occ's namespace for this worker's tests
	archive   bool   // Options.OCIArchive
	landing   build.Landing
}

func btSetup(t *testing.T) btEnv {
	t.Helper()
	tb := testutil.RequireTestbed(t)
	e := btEnv{dir: tb.Dir, containerd: tb.Containerd, registry: tb.Registry}
	e.workers = []btWorker{
		// The testbed's containerd worker records images in "opencode-cloud".
		{name: "containerd", address: tb.Buildkit, namespace: "opencode-cloud", landing: build.LandDirect},
		// The OCI worker writes into containerd's content store over the
		// session, or streams an OCI archive into the importer; each in a
		// namespace of its own.
		{name: "oci", address: tb.BuildkitOCI, namespace: "occ-it-build-oci", landing: build.LandContentStore},
		{name: "oci-archive", address: tb.BuildkitOCI, namespace: "occ-it-build-oci-archive", archive: true, landing: build.LandArchive},
	}
	return e
}

func btContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func btNonce() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// btWriteContext writes a build context whose Dockerfile is FROM the
// testbed busybox, carries the version label and runs body.
func btWriteContext(t *testing.T, registry, body string) string {
	t.Helper()
	dir := t.TempDir()
	df := fmt.Sprintf(`ARG BASE_IMAGE=%s/test/busybox:latest
FROM ${BASE_IMAGE}
ARG OCC_VERSION
LABEL org.opencode-cloud.version="${OCC_VERSION}"
%s
`, registry, body)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello from the context\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func btRuntime(t *testing.T, ctx context.Context, e btEnv, ns string) *runtime.Client {
	t.Helper()
	rt, err := runtime.Connect(ctx, e.containerd, ns, "overlayfs")
	if err != nil {
		t.Fatalf("connect containerd: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func btDaemon(t *testing.T, ctx context.Context, addr string) *build.Daemon {
	t.Helper()
	d, err := build.Connect(ctx, []string{addr})
	if err != nil {
		t.Fatalf("connect BuildKit: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// btImageName is a record name of the test's own, so that the suite never
// touches the real current image.
func btImageName(t *testing.T) string {
	n := strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name()))
	if len(n) > 80 {
		n = n[len(n)-80:]
	}
	return meta.LocalImageRepo + ":it-" + strings.Trim(n, "-.")
}

// btRun runs args in a container made from the record called name.
func btRun(t *testing.T, ctx context.Context, e btEnv, rt *runtime.Client, name string, args ...string) string {
	t.Helper()
	ctx = rt.WithNamespace(ctx)
	raw := ctrd(t, rt)
	img, err := raw.GetImage(ctx, name)
	if err != nil {
		t.Fatalf("get image %s: %v", name, err)
	}
	id := "it-build-" + btNonce()
	ctr, err := raw.NewContainer(ctx, id,
		containerd.WithRuntime("io.containerd.runc.v2", &options.Options{Root: filepath.Join(e.dir, "run", "runc")}),
		containerd.WithImage(img),
		containerd.WithSnapshotter(rt.Snapshotter),
		containerd.WithNewSnapshot(id+"-snapshot", img),
		containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs(args...)),
	)
	if err != nil {
		t.Fatalf("create container from %s: %v", name, err)
	}
	defer func() {
		if err := ctr.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup); err != nil {
			t.Errorf("delete container: %v", err)
		}
	}()
	// The shim writes the output to a file: no FIFO copying to race with
	// a process that exits at once.
	logPath := filepath.Join(t.TempDir(), "out.log")
	task, err := ctr.NewTask(ctx, cio.LogFile(logPath))
	if err != nil {
		t.Fatalf("create task: %v", err)
	}
	defer func() {
		if _, err := task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			t.Errorf("delete task: %v", err)
		}
	}()
	exitCh, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("wait task: %v", err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatalf("start task: %v", err)
	}
	select {
	case st := <-exitCh:
		if code, _, err := st.Result(); err != nil || code != 0 {
			out, _ := os.ReadFile(logPath)
			t.Fatalf("container exited with %d, %v; output:\n%s", code, err, out)
		}
	case <-ctx.Done():
		t.Fatalf("container did not exit: %v", ctx.Err())
	}
	task.IO().Wait()
	return string(btReadFile(t, logPath))
}

// btRunSteps are the Dockerfile RUN steps of a build.
func btRunSteps(steps []build.Step) []build.Step {
	var out []build.Step
	for _, s := range steps {
		if strings.Contains(s.Name, "] RUN ") {
			out = append(out, s)
		}
	}
	return out
}

// btExportedManifest is the manifest digest the progress stream reports
// ("exporting manifest sha256:…"), independent of the exporter response.
type btExportedManifest struct {
	mu     sync.Mutex
	digest string
}

func (m *btExportedManifest) observe(s *bkclient.SolveStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, st := range s.Statuses {
		if d, ok := strings.CutPrefix(st.ID, "exporting manifest "); ok {
			m.digest = d
		}
	}
}

func (m *btExportedManifest) get() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.digest
}

// btTempRecords lists the temporary build records left in the namespace.
func btTempRecords(t *testing.T, ctx context.Context, rt *runtime.Client) []string {
	t.Helper()
	imgs, err := rt.ImageService().List(rt.WithNamespace(ctx))
	if err != nil {
		t.Fatalf("list images: %v", err)
	}
	var out []string
	for _, i := range imgs {
		if strings.HasPrefix(i.Name, meta.LocalImageRepo+":build-") {
			out = append(out, i.Name)
		}
	}
	return out
}

func btReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBuildLifecycle: first build, cached rebuild, full rebuild, the image
// runs, digests match, provenance and state are recorded, then a failing
// RUN and a cancelled build leave the image and state as they were.
func TestBuildLifecycle(t *testing.T) {
	e := btSetup(t)
	for _, w := range e.workers {
		t.Run(w.name, func(t *testing.T) {
			ctx := btContext(t, 5*time.Minute)
			rt := btRuntime(t, ctx, e, w.namespace)
			d := btDaemon(t, ctx, w.address)
			kind := strings.TrimSuffix(w.name, "-archive")
			if got := d.Worker.Kind; got != kind {
				t.Fatalf("worker kind = %q, want %q", got, kind)
			}
			store := rt.ImageStore()
			name := btImageName(t)
			t.Cleanup(func() { _ = store.DeleteImage(context.Background(), name) })
			state := filepath.Join(t.TempDir(), "image-state.json")

			nonce := btNonce()
			dir := btWriteContext(t, e.registry, fmt.Sprintf(
				"RUN echo %s > /nonce\nRUN echo version=$OCC_VERSION > /etc/occ-built\nCOPY hello.txt /hello.txt\nCMD [\"cat\", \"/etc/occ-built\"]", nonce))
			bctx, err := build.DirContext(dir)
			if err != nil {
				t.Fatal(err)
			}
			opts := func(noCache bool, m *btExportedManifest, progress *bytes.Buffer) build.Options {
				o := build.Options{Context: bctx, Name: name, StateFile: state, NoCache: noCache, OCIArchive: w.archive,
					Progress: progress, ProgressMode: build.ProgressPlain, OnStatus: m.observe}
				if progress == nil {
					o.Progress = nil
				}
				return o
			}

			// 1. First build: every RUN step runs.
			var m1 btExportedManifest
			var plain1 bytes.Buffer
			res1, err := build.Build(ctx, d, store, opts(false, &m1, &plain1))
			if err != nil {
				t.Fatalf("first build: %v\nprogress:\n%s", err, plain1.String())
			}
			if res1.Landing != w.landing || res1.Direct != (w.landing == build.LandDirect) {
				t.Errorf("Landing = %q (direct %v), want %q", res1.Landing, res1.Direct, w.landing)
			}
			runs := btRunSteps(res1.Steps)
			if len(runs) != 2 {
				t.Fatalf("first build: %d RUN steps in the progress stream, want 2: %+v", len(runs), res1.Steps)
			}
			for _, s := range runs {
				if !s.Ran() {
					t.Errorf("first build: step %q did not run (cached=%v)", s.Name, s.Cached)
				}
			}
			// The record's digest is the one BuildKit reported, both in
			// its exporter response and in the progress stream.
			rec, err := store.Image(ctx, name)
			if err != nil {
				t.Fatalf("record %s: %v", name, err)
			}
			if rec.Target.Digest != res1.Digest {
				t.Errorf("record digest %s != BuildKit's containerimage.digest %s", rec.Target.Digest, res1.Digest)
			}
			if got := m1.get(); got != res1.Digest.String() {
				t.Errorf("progress stream exported manifest %q, record has %s", got, res1.Digest)
			}
			if rec.Target.MediaType != "application/vnd.oci.image.manifest.v1+json" {
				t.Errorf("record target media type = %s", rec.Target.MediaType)
			}
			if len(btTempRecords(t, ctx, rt)) != 0 {
				t.Errorf("temporary records left: %v", btTempRecords(t, ctx, rt))
			}
			// Provenance labels on the record.
			prov, ok := meta.ProvenanceFromLabels(rec.Labels)
			if !ok || prov.Source != meta.SourceBuild || prov.Build == nil {
				t.Fatalf("record labels carry no build provenance: %v", rec.Labels)
			}
			ctxDigest, _ := bctx.Digest()
			if prov.Build.Worker != kind || prov.Build.BuildkitVersion != d.Version || prov.Build.BuildkitVersion == "" ||
				prov.Build.ContextDigest != ctxDigest.String() || prov.Build.NoCache || prov.ImageVersion != meta.Version ||
				prov.ManifestDigest != res1.Digest.String() || prov.AcquiredAt.IsZero() || prov.Platform != "linux/amd64" {
				t.Errorf("provenance = %+v %+v", prov, *prov.Build)
			}
			// OCI annotations on the manifest.
			cfg, err := store.ImageConfig(ctx, rec.Target)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Config.Labels[meta.ImageVersionLabel]; got != meta.Version {
				t.Errorf("image label %s = %q, want %q", meta.ImageVersionLabel, got, meta.Version)
			}
			ann := btManifestAnnotations(t, ctx, rt, rec)
			for _, k := range []string{"org.opencontainers.image.created", "org.opencontainers.image.version", "org.opencontainers.image.revision", "org.opencontainers.image.source"} {
				if ann[k] == "" {
					t.Errorf("manifest annotation %s missing (have %v)", k, ann)
				}
			}
			if ann["org.opencontainers.image.version"] != meta.Version {
				t.Errorf("annotation version = %q", ann["org.opencontainers.image.version"])
			}
			// State written after the record, matching it.
			st, err := meta.LoadState(state)
			if err != nil || st == nil {
				t.Fatalf("state after build: %v %v", st, err)
			}
			if st.ManifestDigest != res1.Digest.String() || st.Source != meta.SourceBuild || st.Build == nil || st.Build.Worker != kind {
				t.Errorf("state = %+v", st)
			}

			// 2. The image survives containerd's GC (every blob is
			// referenced from the record) and runs under containerd.
			btCollectGarbage(t, ctx, rt)
			btAssertComplete(t, ctx, rt, rec)
			if got := btRun(t, ctx, e, rt, name, "sh", "-c", "cat /nonce /etc/occ-built /hello.txt"); got != nonce+"\nversion="+meta.Version+"\nhello from the context\n" {
				t.Errorf("container output = %q", got)
			}

			// 3. Cached rebuild: the RUN steps come from the cache.
			var m2 btExportedManifest
			var plain2 bytes.Buffer
			res2, err := build.Build(ctx, d, store, opts(false, &m2, &plain2))
			if err != nil {
				t.Fatalf("cached rebuild: %v", err)
			}
			for _, s := range btRunSteps(res2.Steps) {
				if !s.Cached {
					t.Errorf("cached rebuild: step %q was not cached", s.Name)
				}
			}
			if n := strings.Count(plain2.String(), "CACHED"); n < 2 {
				t.Errorf("cached rebuild: plain progress shows %d CACHED steps, want >= 2:\n%s", n, plain2.String())
			}

			// 4. Full rebuild: they run again.
			res3, err := build.Build(ctx, d, store, opts(true, &btExportedManifest{}, nil))
			if err != nil {
				t.Fatalf("full rebuild: %v", err)
			}
			runs = btRunSteps(res3.Steps)
			if len(runs) != 2 {
				t.Fatalf("full rebuild: %d RUN steps", len(runs))
			}
			for _, s := range runs {
				if !s.Ran() || s.Cached {
					t.Errorf("full rebuild: step %q did not run (cached=%v)", s.Name, s.Cached)
				}
			}
			if rec, _ := store.Image(ctx, name); rec.Labels[meta.LabelNoCache] != "true" {
				t.Errorf("no-cache label = %q", rec.Labels[meta.LabelNoCache])
			}

			// 5. A failing RUN: a clear error, the image and state untouched.
			before, _ := store.Image(ctx, name)
			stateBefore := btReadFile(t, state)
			failDir := btWriteContext(t, e.registry, fmt.Sprintf("RUN echo %s\nRUN echo boom-%s-output && echo second line && exit 3", nonce, nonce))
			fctx, _ := build.DirContext(failDir)
			_, err = build.Build(ctx, d, store, build.Options{Context: fctx, Name: name, StateFile: state, OCIArchive: w.archive})
			var be *build.BuildError
			if !errors.As(err, &be) {
				t.Fatalf("failing build: error %v (%T), want *build.BuildError", err, err)
			}
			if !strings.Contains(be.Step, "RUN echo boom-") {
				t.Errorf("failing step = %q", be.Step)
			}
			if !strings.Contains(strings.Join(be.Logs, "\n"), "boom-"+nonce+"-output") {
				t.Errorf("failing step output not in the error: %q", be.Logs)
			}
			if !strings.Contains(err.Error(), "exit code: 3") || !strings.Contains(err.Error(), "were not changed") {
				t.Errorf("error text: %v", err)
			}
			btAssertUntouched(t, ctx, rt, store, name, before, state, stateBefore)

			// 6. A build cancelled while a RUN step is running.
			slowDir := btWriteContext(t, e.registry, fmt.Sprintf("RUN echo %s && sleep 60", btNonce()))
			sctx, _ := build.DirContext(slowDir)
			cctx, cancel := context.WithCancel(ctx)
			var once sync.Once
			_, err = build.Build(cctx, d, store, build.Options{Context: sctx, Name: name, StateFile: state, OCIArchive: w.archive,
				OnStatus: func(s *bkclient.SolveStatus) {
					for _, v := range s.Vertexes {
						if strings.Contains(v.Name, "sleep 60") && v.Started != nil {
							once.Do(func() { time.AfterFunc(300*time.Millisecond, cancel) })
						}
					}
				}})
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled build: error %v, want context.Canceled", err)
			}
			btAssertUntouched(t, ctx, rt, store, name, before, state, stateBefore)

			// 7. Cancelled as the export starts: either the build won the
			// race and is fully recorded, or nothing changed.
			expDir := btWriteContext(t, e.registry, fmt.Sprintf("RUN echo %s > /nonce && head -c 4000000 /dev/urandom > /blob", btNonce()))
			ectx, _ := build.DirContext(expDir)
			cctx, cancel = context.WithCancel(ctx)
			res, err := build.Build(cctx, d, store, build.Options{Context: ectx, Name: name, StateFile: state, OCIArchive: w.archive,
				OnStatus: func(s *bkclient.SolveStatus) {
					for _, v := range s.Vertexes {
						if strings.HasPrefix(v.Name, "exporting to") && v.Started != nil {
							cancel()
						}
					}
				}})
			cancel()
			switch {
			case err == nil:
				t.Logf("cancel during export: the build finished first")
				rec, _ := store.Image(ctx, name)
				st, _ := meta.LoadState(state)
				if rec.Target.Digest != res.Digest || st == nil || st.ManifestDigest != res.Digest.String() {
					t.Errorf("finished build half-recorded: record %s, state %+v, built %s", rec.Target.Digest, st, res.Digest)
				}
			case errors.Is(err, context.Canceled):
				t.Logf("cancel during export: %v", err)
				btAssertUntouched(t, ctx, rt, store, name, before, state, stateBefore)
			default:
				t.Errorf("cancel during export: error %v, want context.Canceled", err)
			}
		})
	}
}

func btAssertUntouched(t *testing.T, ctx context.Context, rt *runtime.Client, store *runtime.ImageStore, name string, before images.Image, state string, stateBefore []byte) {
	t.Helper()
	after, err := store.Image(ctx, name)
	if err != nil {
		t.Fatalf("record %s after the failed build: %v", name, err)
	}
	if after.Target.Digest != before.Target.Digest || !after.UpdatedAt.Equal(before.UpdatedAt) || len(after.Labels) != len(before.Labels) {
		t.Errorf("record changed: %+v -> %+v", before, after)
	}
	if got := btReadFile(t, state); !bytes.Equal(got, stateBefore) {
		t.Errorf("state changed:\n%s\n->\n%s", stateBefore, got)
	}
	if left := btTempRecords(t, ctx, rt); len(left) != 0 {
		t.Errorf("temporary records left: %v", left)
	}
}

// btCollectGarbage runs containerd's GC now (deleting a lease synchronously does).
func btCollectGarbage(t *testing.T, ctx context.Context, rt *runtime.Client) {
	t.Helper()
	ctx = rt.WithNamespace(ctx)
	ls := rt.LeasesService()
	l, err := ls.Create(ctx, leases.WithRandomID())
	if err != nil {
		t.Fatal(err)
	}
	if err := ls.Delete(ctx, l, leases.SynchronousDelete); err != nil {
		t.Fatalf("GC: %v", err)
	}
}

// btAssertComplete checks that every blob of the image is in the content store.
func btAssertComplete(t *testing.T, ctx context.Context, rt *runtime.Client, rec images.Image) {
	t.Helper()
	ctx = rt.WithNamespace(ctx)
	cs := rt.ContentStore()
	n := 0
	err := images.Walk(ctx, images.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		if _, err := cs.Info(ctx, desc.Digest); err != nil {
			return nil, fmt.Errorf("%s %s: %w", desc.MediaType, desc.Digest, err)
		}
		n++
		return images.Children(ctx, cs, desc)
	}), rec.Target)
	if err != nil {
		t.Fatalf("image content after GC: %v", err)
	}
	if n < 3 {
		t.Errorf("walked %d blobs, want manifest, config and layers", n)
	}
}

func btManifestAnnotations(t *testing.T, ctx context.Context, rt *runtime.Client, rec images.Image) map[string]string {
	t.Helper()
	m, err := images.Manifest(rt.WithNamespace(ctx), rt.ContentStore(), rec.Target, nil)
	if err != nil {
		t.Fatalf("read manifest: %v", err)
	}
	return m.Annotations
}

// TestBuildEmbeddedContext: the context compiled into occ is the sandbox
// directory in the source tree, byte for byte; and two
// builds with SOURCE_DATE_EPOCH give the same image digest, while a record
// left by a killed build is swept. (Building the real sandbox image needs
// the Debian base and the npm registry: that is the e2e suite's job.)
func TestBuildEmbeddedContext(t *testing.T) {
	// Every embedded file equals its source; no source file is missing.
	seen := map[string]bool{}
	err := fs.WalkDir(build.SandboxContext(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		seen[p] = true
		got, _ := fs.ReadFile(build.SandboxContext(), p)
		want, err := os.ReadFile(filepath.Join("../pkg/build/sandbox", p))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("embedded %s differs from the source tree (%v)", p, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir("../pkg/build/sandbox")
	for _, e := range entries {
		if !e.IsDir() && !seen[e.Name()] {
			t.Errorf("%s is in the source tree but not embedded", e.Name())
		}
	}

	e := btSetup(t)
	w := e.workers[0]
	ctx := btContext(t, 3*time.Minute)
	rt := btRuntime(t, ctx, e, w.namespace)
	d := btDaemon(t, ctx, w.address)
	store := rt.ImageStore()
	name := btImageName(t)
	t.Cleanup(func() { _ = store.DeleteImage(context.Background(), name) })
	defer func(old time.Duration) { build.StaleAfter = old }(build.StaleAfter)
	build.StaleAfter = 0
	stale := meta.LocalImageRepo + ":build-stale-" + btNonce()
	t.Cleanup(func() { _ = store.DeleteImage(context.Background(), stale) })
	bctx, err := build.DirContext(btWriteContext(t, e.registry, "COPY hello.txt /hello.txt\nRUN echo built > /built"))
	if err != nil {
		t.Fatal(err)
	}

	epoch := int64(1700000000)
	var digests []string
	for i := 0; i < 2; i++ {
		res, err := build.Build(ctx, d, store, build.Options{Name: name, Context: bctx, SourceDateEpoch: &epoch, NoCache: i == 1})
		if err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		digests = append(digests, res.Digest.String())
		if i == 0 {
			// A record left behind by a build that was killed half-way:
			// the next build removes it.
			if _, err := rt.ImageService().Create(rt.WithNamespace(ctx), images.Image{Name: stale, Target: res.Image.Target}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := store.Image(ctx, stale); !errdefs.IsNotFound(err) {
		t.Errorf("stale build record %s not removed: %v", stale, err)
	}
	if digests[0] != digests[1] {
		t.Errorf("SOURCE_DATE_EPOCH builds differ: %v", digests)
	}
	if got := btRun(t, ctx, e, rt, name, "cat", "/built"); got != "built\n" {
		t.Errorf("/built = %q", got)
	}
}

// TestBuildUnreachable: no BuildKit answers; the error lists each address
// with its failure and says how to start buildkitd.
func TestBuildUnreachable(t *testing.T) {
	ctx := btContext(t, 30*time.Second)
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	addrs := []string{"unix://" + filepath.Join(dir, "missing.sock"), "unix://" + stale, "tcp://127.0.0.1:1"}
	_, err := build.Connect(ctx, addrs)
	var ue *build.UnreachableError
	if !errors.As(err, &ue) || !errdefs.IsUnavailable(err) {
		t.Fatalf("error %v (%T), want *build.UnreachableError classified unavailable", err, err)
	}
	msg := err.Error()
	for _, a := range addrs {
		if !strings.Contains(msg, a) {
			t.Errorf("error does not list %s:\n%s", a, msg)
		}
	}
	for _, want := range []string{"no socket there", "not a socket", "buildkitd --addr unix:///run/buildkit/buildkitd.sock", "rootlesskit buildkitd", "XDG_RUNTIME_DIR"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

// TestBuildCacheExportImport: --cache-to type=local and type=registry, the
// BuildKit cache pruned, then --cache-from brings the RUN steps back cached.
// Runs on the OCI-worker daemon only (it prunes that daemon's cache).
func TestBuildCacheExportImport(t *testing.T) {
	e := btSetup(t)
	w := e.workers[1]
	for _, kind := range []string{"local", "registry"} {
		t.Run(kind, func(t *testing.T) {
			ctx := btContext(t, 4*time.Minute)
			rt := btRuntime(t, ctx, e, w.namespace)
			d := btDaemon(t, ctx, w.address)
			store := rt.ImageStore()
			name := btImageName(t)
			t.Cleanup(func() { _ = store.DeleteImage(context.Background(), name) })
			dir := btWriteContext(t, e.registry, fmt.Sprintf("RUN echo %s > /nonce", btNonce()))
			bctx, _ := build.DirContext(dir)

			var to, from []string
			switch kind {
			case "local":
				cdir := filepath.Join(t.TempDir(), "cache")
				to, from = []string{"type=local,dest=" + cdir}, []string{"type=local,src=" + cdir}
			case "registry":
				ref := e.registry + "/test/occ-build-cache:" + btNonce()
				to, from = []string{"type=registry,ref=" + ref}, []string{"type=registry,ref=" + ref}
			}
			exports, err := build.ParseCacheExports(to)
			if err != nil {
				t.Fatal(err)
			}
			imports, err := build.ParseCacheImports(from)
			if err != nil {
				t.Fatal(err)
			}
			res, err := build.Build(ctx, d, store, build.Options{Context: bctx, Name: name, CacheExports: exports})
			if err != nil {
				t.Fatalf("build with --cache-to: %v", err)
			}
			if runs := btRunSteps(res.Steps); len(runs) != 1 || !runs[0].Ran() {
				t.Fatalf("first build RUN steps: %+v", runs)
			}
			if err := d.Prune(ctx, nil, bkclient.PruneAll); err != nil {
				t.Fatalf("prune BuildKit cache: %v", err)
			}
			res, err = build.Build(ctx, d, store, build.Options{Context: bctx, Name: name, CacheImports: imports})
			if err != nil {
				t.Fatalf("build with --cache-from: %v", err)
			}
			runs := btRunSteps(res.Steps)
			if len(runs) != 1 || !runs[0].Cached {
				t.Errorf("after prune, --cache-from %s did not bring the RUN step back from cache: %+v", kind, runs)
			}
		})
	}
}
