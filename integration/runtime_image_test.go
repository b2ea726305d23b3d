//go:build integration

package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/opencode-cloud/occ/internal/testutil"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// ctrd is a containerd client of its own on rt's socket and namespace, for
// what the tests look at below occ's runtime API (snapshots, containers,
// tasks, pulls): runtime.Client keeps its containerd client to itself. It
// is closed when the test ends.
func ctrd(t testing.TB, rt *runtime.Client) *containerd.Client {
	t.Helper()
	c, err := containerd.New(rt.Address, containerd.WithDefaultNamespace(rt.Namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("connect to containerd at %s: %v (is the testbed up? `hack/testbed status`)", rt.Address, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// rtEnv is what the runtime tests need from the testbed.
type rtEnv struct {
	containerd string
	registry   string
	buildkit   string
}

func rtTestbed(t testing.TB) rtEnv {
	t.Helper()
	tb := testutil.RequireTestbed(t)
	return rtEnv{containerd: tb.Containerd, registry: tb.Registry, buildkit: tb.Buildkit}
}

var (
	rtImageOnce sync.Once
	rtImageRef  string
	rtImageErr  error
)

// rtAppImage builds the test sandbox image once per run: the static Go
// server from testdata/runtime_app layered on the seeded busybox, pushed to
// the testbed registry. It returns the reference.
func rtAppImage(t testing.TB, e rtEnv) string {
	t.Helper()
	rtImageOnce.Do(func() { rtImageRef, rtImageErr = buildRTAppImage(e) })
	if rtImageErr != nil {
		t.Fatalf("build the test image: %v", rtImageErr)
	}
	return rtImageRef
}

// The test app image's opencode version and source revision labels.
const (
	rtOpencodeVersion = "0.0.0-test"
	rtImageRevision   = "0123456789abcdef0123456789abcdef01234567"
)

func buildRTAppImage(e rtEnv) (string, error) {
	dir, err := os.MkdirTemp("", "occ-rt-app-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "app")
	if err := testutil.GoBuild(bin, "./integration/testdata/runtime_app", []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"},
		"-trimpath", "-ldflags=-s -w"); err != nil {
		return "", err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "app", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return "", err
	}
	if _, err := tw.Write(data); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil })
	if err != nil {
		return "", err
	}
	baseRef, err := name.ParseReference(e.registry+"/test/busybox:latest", name.Insecure)
	if err != nil {
		return "", err
	}
	base, err := remote.Image(baseRef)
	if err != nil {
		return "", fmt.Errorf("fetch the seeded busybox: %w", err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cfg := cf.Config
	cfg.Entrypoint = []string{"/app"}
	cfg.Cmd = nil
	cfg.Env = append(cfg.Env, "FROM_IMAGE=image", "SHARED=image")
	cfg.ExposedPorts = map[string]struct{}{"3000/tcp": {}}
	// The labels the sandbox image carries about opencode and its source
	// (occ status shows them); not org.opencode-cloud.version: this is
	// not an occ sandbox.
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.Labels[meta.OpencodeVersionLabel] = rtOpencodeVersion
	cfg.Labels[meta.ImageRevisionLabel] = rtImageRevision
	img, err = mutate.Config(img, cfg)
	if err != nil {
		return "", err
	}
	ref := e.registry + "/test/runtime-app:latest"
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(r, img); err != nil {
		return "", fmt.Errorf("push test image: %w", err)
	}
	return ref, nil
}

// rtPull pulls ref into containerd (classic Pull, plain HTTP to the
// testbed registry) and names it localName.
func rtPull(ctx context.Context, t testing.TB, c *containerd.Client, ref, localName string) containerd.Image {
	t.Helper()
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchAllHosts)),
	})
	img, err := c.Pull(ctx, ref, containerd.WithResolver(resolver), containerd.WithPullUnpack)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	is := c.ImageService()
	rec := img.Metadata()
	rec.Name = localName
	if _, err := is.Create(ctx, rec); err != nil {
		if _, err := is.Update(ctx, rec); err != nil {
			t.Fatalf("name image %s: %v", localName, err)
		}
	}
	out, err := c.GetImage(ctx, localName)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
