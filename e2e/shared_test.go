//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	dockerconfig "github.com/containerd/containerd/v2/core/remotes/docker/config"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// The tests share one occ binary and one build of the real sandbox image:
// the build is what takes time, and each test needs it only once.

// sharedDir holds what the tests share (the binary, the build's own occ
// config); TestMain removes it.
var sharedDir string

func TestMain(m *testing.M) {
	var err error
	if sharedDir, err = os.MkdirTemp("", "occ-e2e-shared-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if os.Getenv("OCC_E2E_KEEP") == "" {
		_ = os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

var binOnce struct {
	sync.Once
	path string
	err  error
}

// occBinary builds ./cmd/occ once.
func occBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binOnce.path = filepath.Join(sharedDir, "occ")
		build := exec.Command("go", "build", "-o", binOnce.path, "./cmd/occ")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			binOnce.err = fmt.Errorf("go build ./cmd/occ: %v\n%s", err, out)
		}
	})
	if binOnce.err != nil {
		t.Fatal(binOnce.err)
	}
	return binOnce.path
}

// builtNamespace is where the shared build lands: the namespace the
// testbed's BuildKit containerd worker writes into, and occ's default.
const builtNamespace = "opencode-cloud"

// sandboxImage is the real sandbox image, built once by `occ image build`
// into builtNamespace as meta.CurrentImageName, and published to the
// testbed registry as Ref for the tests that pull it.
type sandboxImage struct {
	Repo      string // registry/repository
	Ref       string // Repo:latest
	Digest    string // the pushed manifest (or index) digest
	BuildLog  string // occ image build's stderr
	BuildTime time.Duration
}

var imageOnce struct {
	sync.Once
	img *sandboxImage
	err error
}

// theSandboxImage builds and publishes the sandbox image on its first call.
// The build uses a config of its own (occ's defaults plus the testbed's
// addresses) and the Dockerfile's default base, debian:bookworm-slim,
// which the testbed's BuildKit reads from the testbed registry as its
// docker.io mirror (hack/testbed seed puts it there): so a later build
// through `occ start` hits the same cache.
func theSandboxImage(t *testing.T) *sandboxImage {
	t.Helper()
	need(t, "CONTAINERD_ADDRESS")
	need(t, "BUILDKIT_HOST")
	registry := need(t, "OCC_TEST_REGISTRY")
	bin := occBinary(t)
	imageOnce.Do(func() { imageOnce.img, imageOnce.err = buildAndPublish(bin, registry) })
	if imageOnce.err != nil {
		t.Fatal(imageOnce.err)
	}
	return imageOnce.img
}

func buildAndPublish(bin, registry string) (*sandboxImage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	dir := filepath.Join(sharedDir, "build")
	env := append(os.Environ(),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"OCC_CONFIG=", "NO_COLOR=1")
	// OCC_E2E_BUILD_CACHE (make e2e sets it) keeps BuildKit's layer cache
	// in a directory that outlives the testbed, so that a second run does
	// not install Debian packages and opencode again. Extra CA
	// certificates, if this machine has any, go in as the extra_ca secret.
	args := []string{"image", "build", "--progress", "plain"}
	if cache := os.Getenv("OCC_E2E_BUILD_CACHE"); cache != "" {
		if _, err := os.Stat(filepath.Join(cache, "index.json")); err == nil {
			args = append(args, "--cache-from", "type=local,src="+cache)
		}
		args = append(args, "--cache-to", "type=local,dest="+cache+",mode=max")
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	// The build's progress also goes to a file, to follow a long build
	// (tail -f) while the test waits.
	logPath := filepath.Join(sharedDir, "build.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	fmt.Fprintf(os.Stderr, "e2e: building the sandbox image (progress: %s)\n", logPath)
	var stderr bytes.Buffer
	w := io.MultiWriter(&stderr, logFile)
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("occ %s: %v\n%s", strings.Join(args, " "), err, lastLines(stderr.String(), 40))
	}
	img := &sandboxImage{Repo: registry + "/e2e/opencode-cloud-sandbox", BuildLog: stderr.String(), BuildTime: time.Since(start)}
	img.Ref = img.Repo + ":latest"
	if !strings.Contains(img.BuildLog, "Built "+meta.CurrentImageName) {
		return nil, fmt.Errorf("occ image build did not report the image:\n%s", lastLines(img.BuildLog, 30))
	}

	// Publish it as a release would be, for the tests that pull.
	client, err := runtime.Connect(ctx, os.Getenv("CONTAINERD_ADDRESS"), builtNamespace, "overlayfs")
	if err != nil {
		return nil, err
	}
	defer client.Close()
	nctx := client.WithNamespace(ctx)
	built, err := client.GetImage(nctx, meta.CurrentImageName)
	if err != nil {
		return nil, fmt.Errorf("the built image: %w", err)
	}
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: dockerconfig.ConfigureHosts(nctx, dockerconfig.HostOptions{DefaultScheme: "http"}),
	})
	if err := client.Push(nctx, img.Ref, built.Target(), containerd.WithResolver(resolver)); err != nil {
		return nil, fmt.Errorf("push %s to %s: %w", meta.CurrentImageName, img.Ref, err)
	}
	img.Digest = built.Target().Digest.String()
	return img, nil
}
