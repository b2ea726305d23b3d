//go:build integration

package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"

	"github.com/opencode-cloud/occ/internal/testutil"
)

// tbNamespace is the containerd namespace occ and the testbed's BuildKit containerd worker use.
const tbNamespace = "opencode-cloud"

// tbRunNamespace is where TestContainerdRunsBusybox pulls and runs.
const tbRunNamespace = "occ-it-testbed"

// tbEnv is where the daemons of hack/testbed answer.
type tbEnv struct {
	dir         string // OCC_TESTBED_DIR
	containerd  string // CONTAINERD_ADDRESS
	buildkit    string // BUILDKIT_HOST: containerd worker
	buildkitOCI string // OCC_TEST_BUILDKIT_OCI: OCI worker
	registry    string // OCC_TEST_REGISTRY: host:port
}

// tbTestbed reads the testbed's environment. A missing variable fails the test: a skipped suite would
// hide a broken testbed in CI.
func tbTestbed(t *testing.T) tbEnv {
	t.Helper()
	tb := testutil.RequireTestbed(t)
	return tbEnv{dir: tb.Dir, containerd: tb.Containerd, buildkit: tb.Buildkit, buildkitOCI: tb.BuildkitOCI, registry: tb.Registry}
}

func tbContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func tbContainerd(t *testing.T, tb tbEnv, namespace string) *containerd.Client {
	t.Helper()
	c, err := containerd.New(tb.containerd, containerd.WithDefaultNamespace(namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("connect to containerd at %s: %v (is the testbed up? `hack/testbed status`)", tb.containerd, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func tbBuildKit(t *testing.T, ctx context.Context, addr string) *bkclient.Client {
	t.Helper()
	c, err := bkclient.New(ctx, addr)
	if err != nil {
		t.Fatalf("connect to BuildKit at %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// tbUniqueName is a name no other run of the suite uses.
func tbUniqueName() string {
	return fmt.Sprintf("occ-it-%d-%d", os.Getpid(), time.Now().UnixNano())
}

func TestContainerdAnswers(t *testing.T) {
	tb := tbTestbed(t)
	ctx := tbContext(t, 30*time.Second)
	c := tbContainerd(t, tb, tbNamespace)

	v, err := c.Version(ctx)
	if err != nil {
		t.Fatalf("containerd Version: %v", err)
	}
	if leg := tbLeg(t); !strings.HasPrefix(strings.TrimPrefix(v.Version, "v"), leg.name+".") {
		t.Errorf("containerd version = %q, want %s.x (OCC_TEST_CONTAINERD)", v.Version, leg.name)
	}
	t.Logf("containerd %s (revision %q) at %s", v.Version, v.Revision, tb.containerd)

	serving, err := c.IsServing(ctx)
	if err != nil || !serving {
		t.Fatalf("containerd IsServing = %v, %v; want true, nil", serving, err)
	}

	// occ needs the overlayfs snapshotter: make sure it loaded.
	resp, err := c.IntrospectionService().Plugins(ctx, "type==io.containerd.snapshotter.v1,id==overlayfs")
	if err != nil {
		t.Fatalf("introspection: %v", err)
	}
	if len(resp.Plugins) != 1 {
		t.Fatalf("overlayfs snapshotter plugin: got %d plugins, want 1", len(resp.Plugins))
	}
	if e := resp.Plugins[0].InitErr; e != nil {
		t.Fatalf("overlayfs snapshotter failed to load: %s", e.Message)
	}
}

// TestContainerdRunsBusybox pulls the seeded image and runs it: shim, runc and overlayfs work.
func TestContainerdRunsBusybox(t *testing.T) {
	tb := tbTestbed(t)
	ctx := tbContext(t, 60*time.Second)
	// A namespace of its own, so that the opencode-cloud namespace other tests look at is untouched.
	c := tbContainerd(t, tb, tbRunNamespace)

	ref := tb.registry + "/test/busybox:latest"
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: config.ConfigureHosts(ctx, config.HostOptions{DefaultScheme: "http"}),
	})
	img, err := c.Pull(ctx, ref, containerd.WithResolver(resolver), containerd.WithPullUnpack)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	t.Cleanup(func() {
		// Registered before the container's cleanup, so it runs after it.
		_ = c.ImageService().Delete(context.WithoutCancel(ctx), ref)
	})

	id := tbUniqueName()
	ctr, err := c.NewContainer(ctx, id,
		// Keep runc's state in the testbed instead of the global /run/containerd/runc/<namespace>.
		containerd.WithRuntime("io.containerd.runc.v2", &options.Options{Root: filepath.Join(tb.dir, "run", "runc")}),
		containerd.WithImage(img),
		containerd.WithNewSnapshot(id+"-snapshot", img),
		containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("/bin/sh", "-c", "echo hello from $(uname -s) busybox; id -u")),
	)
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			t.Errorf("delete container %s: %v", id, err)
		}
	})

	// Separate buffers: cio copies each stream with io.Copy, which calls bytes.Buffer.ReadFrom, and two
	// concurrent ReadFrom calls on one Buffer lose data (seen here as empty output ~1 run in 6).
	var stdout, stderr bytes.Buffer
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &stdout, &stderr), cio.WithFIFODir(filepath.Join(tb.dir, "run", "fifo"))))
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
		code, _, err := st.Result()
		if err != nil || code != 0 {
			t.Fatalf("container exited with %d, %v; stdout:\n%s\nstderr:\n%s", code, err, &stdout, &stderr)
		}
	case <-ctx.Done():
		t.Fatalf("container did not exit: %v; stdout so far:\n%s\nstderr:\n%s", ctx.Err(), &stdout, &stderr)
	}
	// The exit event can come before the FIFO is drained: wait for the IO to finish.
	task.IO().Wait()
	if got, want := stdout.String(), "hello from Linux busybox\n0\n"; got != want {
		t.Errorf("container stdout = %q, want %q (stderr: %q)", got, want, stderr.String())
	}
}

func TestBuildKitWorkers(t *testing.T) {
	tb := tbTestbed(t)
	tests := []struct {
		name          string
		addr          string
		wantExecutor  string
		wantNamespace string // containerd worker only
	}{
		{name: "containerd worker", addr: tb.buildkit, wantExecutor: "containerd", wantNamespace: tbNamespace},
		{name: "OCI worker", addr: tb.buildkitOCI, wantExecutor: "oci"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tbContext(t, 30*time.Second)
			c := tbBuildKit(t, ctx, tt.addr)

			info, err := c.Info(ctx)
			if err != nil {
				t.Fatalf("Info from %s: %v", tt.addr, err)
			}
			t.Logf("%s: BuildKit %s", tt.addr, info.BuildkitVersion.Version)

			workers, err := c.ListWorkers(ctx)
			if err != nil {
				t.Fatalf("ListWorkers from %s: %v", tt.addr, err)
			}
			if len(workers) != 1 {
				t.Fatalf("%s has %d workers, want 1", tt.addr, len(workers))
			}
			labels := workers[0].Labels
			want := map[string]string{
				"org.mobyproject.buildkit.worker.executor":    tt.wantExecutor,
				"org.mobyproject.buildkit.worker.snapshotter": "overlayfs",
				"org.mobyproject.buildkit.worker.network":     "host",
			}
			if tt.wantNamespace != "" {
				want["org.mobyproject.buildkit.worker.containerd.namespace"] = tt.wantNamespace
			}
			for k, v := range want {
				if labels[k] != v {
					t.Errorf("worker label %s = %q, want %q (all labels: %v)", k, labels[k], v, labels)
				}
			}
			if len(workers[0].Platforms) == 0 {
				t.Errorf("worker %s reports no platforms", workers[0].ID)
			}
		})
	}
}

// TestBuildKitBuilds runs a RUN step FROM the seeded image on each BuildKit daemon: the containerd
// worker's result must land (unpacked) in containerd's opencode-cloud namespace, the OCI worker's
// must be pushed to the local registry.
func TestBuildKitBuilds(t *testing.T) {
	tb := tbTestbed(t)
	tag := tbUniqueName()
	tests := []struct {
		name   string
		addr   string
		image  string
		attrs  map[string]string
		verify func(t *testing.T, ctx context.Context, image string)
	}{
		{
			name:  "containerd worker into containerd",
			addr:  tb.buildkit,
			image: "occ.test/integration/built:" + tag,
			attrs: map[string]string{"unpack": "true"},
			verify: func(t *testing.T, ctx context.Context, image string) {
				c := tbContainerd(t, tb, tbNamespace)
				img, err := c.GetImage(ctx, image)
				if err != nil {
					t.Fatalf("built image %s is not in containerd namespace %s: %v", image, tbNamespace, err)
				}
				t.Cleanup(func() {
					_ = c.ImageService().Delete(context.WithoutCancel(ctx), image)
				})
				unpacked, err := img.IsUnpacked(ctx, "overlayfs")
				if err != nil || !unpacked {
					t.Errorf("built image %s unpacked for overlayfs = %v, %v; want true", image, unpacked, err)
				}
			},
		},
		{
			name:  "OCI worker pushes to the registry",
			addr:  tb.buildkitOCI,
			image: tb.registry + "/test/integration-built:" + tag,
			attrs: map[string]string{"push": "true", "registry.insecure": "true"},
			verify: func(t *testing.T, ctx context.Context, image string) {
				ref, err := name.ParseReference(image)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := remote.Head(ref, remote.WithContext(ctx)); err != nil {
					t.Fatalf("pushed image %s is not in the registry: %v", image, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tbContext(t, 2*time.Minute)
			c := tbBuildKit(t, ctx, tt.addr)

			st := llb.Image(tb.registry + "/test/busybox:latest").
				Run(llb.Args([]string{"/bin/sh", "-c", "echo built > /built && test -s /built"})).Root()
			def, err := st.Marshal(ctx)
			if err != nil {
				t.Fatalf("marshal LLB: %v", err)
			}
			attrs := map[string]string{"name": tt.image}
			for k, v := range tt.attrs {
				attrs[k] = v
			}
			_, err = c.Solve(ctx, def, bkclient.SolveOpt{
				Exports: []bkclient.ExportEntry{{Type: bkclient.ExporterImage, Attrs: attrs}},
			}, nil)
			if err != nil {
				t.Fatalf("build on %s: %v", tt.addr, err)
			}
			tt.verify(t, ctx, tt.image)
		})
	}
}

func TestRegistryServesBusybox(t *testing.T) {
	tb := tbTestbed(t)
	ctx := tbContext(t, 30*time.Second)

	ref, err := name.ParseReference(tb.registry + "/test/busybox:latest")
	if err != nil {
		t.Fatalf("parse reference: %v", err)
	}
	img, err := remote.Image(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("fetch %s: %v", ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("config of %s: %v", ref, err)
	}
	if cfg.OS != "linux" || cfg.Architecture != goruntime.GOARCH {
		t.Errorf("platform = %s/%s, want linux/%s", cfg.OS, cfg.Architecture, goruntime.GOARCH)
	}
	if !slices.Equal(cfg.Config.Cmd, []string{"/bin/sh"}) {
		t.Errorf("Cmd = %q, want [/bin/sh]", cfg.Config.Cmd)
	}
	if !slices.ContainsFunc(cfg.Config.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		t.Errorf("Env = %q, want a PATH entry", cfg.Config.Env)
	}

	layers, err := img.Layers()
	if err != nil {
		t.Fatalf("layers: %v", err)
	}
	if len(layers) != 1 {
		t.Fatalf("got %d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatalf("open layer: %v", err)
	}
	defer rc.Close()
	seen := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read layer: %v", err)
		}
		seen[strings.TrimPrefix(h.Name, "./")] = h
	}
	tests := []struct {
		path     string
		typeflag byte
		link     string
	}{
		{path: "bin/busybox", typeflag: tar.TypeReg},
		{path: "bin/sh", typeflag: tar.TypeSymlink, link: "busybox"},
		{path: "etc/passwd", typeflag: tar.TypeReg},
		{path: "tmp/", typeflag: tar.TypeDir},
	}
	for _, tt := range tests {
		h, ok := seen[tt.path]
		switch {
		case !ok:
			t.Errorf("layer has no %s", tt.path)
		case h.Typeflag != tt.typeflag || h.Linkname != tt.link:
			t.Errorf("%s: type %q link %q, want type %q link %q", tt.path, h.Typeflag, h.Linkname, tt.typeflag, tt.link)
		case !h.ModTime.Equal(time.Unix(0, 0)):
			t.Errorf("%s: mtime %v, want the epoch (the layer must be reproducible)", tt.path, h.ModTime)
		}
	}
}
