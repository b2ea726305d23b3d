//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/trust"
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

// builtNamespace is where the shared build lands: the namespace the
// testbed's BuildKit containerd worker writes into, and occ's default.
const builtNamespace = "opencode-cloud"

// sandboxImage is the real sandbox image, built once by `occ image build`
// into builtNamespace as meta.CurrentImageName, and published to the
// testbed registry as Ref by hack/publish-sandbox (signed) for the tests
// that pull it.
type sandboxImage struct {
	Repo        string // registry/repository
	Mirror      string // the same index in a second repository
	Ref         string // Repo:<this occ's sandbox tag>
	Digest      string // this platform's manifest in the published index
	IndexDigest string // the published index
	PubKey      string // the public key the index is signed with
	BuildLog    string // occ image build's stderr
	BuildTime   time.Duration
	PublishLog  string // hack/publish-sandbox's output
	PublishTime time.Duration
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
	registry := testutil.RequireTestbed(t).Registry
	bin := testutil.OccBinary(t)
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
	img := &sandboxImage{Repo: registry + "/e2e/occ-sandbox", Mirror: registry + "/e2e-mirror/occ-sandbox",
		BuildLog: stderr.String(), BuildTime: time.Since(start)}
	// occ pulls the sandbox of its own version by default (image_tag empty).
	img.Ref = img.Repo + ":" + meta.SandboxTag()
	if !strings.Contains(img.BuildLog, "Built "+meta.CurrentImageName) {
		return nil, fmt.Errorf("occ image build did not report the image:\n%s", lastLines(img.BuildLog, 30))
	}
	if err := publish(ctx, img, registry); err != nil {
		return nil, err
	}
	return img, nil
}

// publish publishes the sandbox as a release does, with hack/publish-sandbox:
// one index (provenance attestation, OCI annotations) in the e2e repository
// and its stand-in mirror, signed with a key made here (PubKey: what occ
// verifies with). It builds on the BuildKit (containerd worker) that `occ
// image build` just used, with the same build arguments (OCC_VERSION, the
// default base as BuildKit sees it through the testbed's docker.io mirror,
// no revision), so every step is a cache hit: it only exports (with
// rewritten timestamps), pushes and signs.
func publish(ctx context.Context, img *sandboxImage, registry string) error {
	tb, err := testutil.LookupTestbed()
	if err != nil {
		return err
	}
	priv, pub, err := trust.GenerateKey()
	if err != nil {
		return err
	}
	key := filepath.Join(sharedDir, "signing")
	if err := os.WriteFile(key+".key", priv, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(key+".pub", pub, 0o644); err != nil {
		return err
	}
	img.PubKey = key + ".pub"
	summary := filepath.Join(sharedDir, "publish.json")
	staged := filepath.Join(sharedDir, "stage.json")
	env := append(os.Environ(),
		"OCC_PUBLISH_BUILDKIT="+tb.Buildkit,
		"OCC_PUBLISH_REPOSITORIES="+img.Repo+","+img.Mirror,
		"OCC_PUBLISH_BASE_IMAGE=debian:bookworm-slim",
		"OCC_PUBLISH_BASE_CHECK_REF="+registry+"/library/debian:bookworm-slim",
		"OCC_PUBLISH_REVISION=",
		"OCC_PUBLISH_SIGN_KEY="+key+".key",
		"OCC_VERSION="+meta.Version)
	if c := os.Getenv("OCC_E2E_BUILD_CACHE"); c != "" {
		env = append(env, "OCC_PUBLISH_CACHE_DIR="+c)
	}
	// As the release workflow does: each platform built on its own runner
	// (--stage), then the staged builds joined, copied and signed (--merge).
	var out bytes.Buffer
	start := time.Now()
	for _, step := range []struct{ flag, summary string }{{"--stage", staged}, {"--merge", summary}} {
		cmd := exec.CommandContext(ctx, "hack/publish-sandbox", step.flag)
		cmd.Dir = ".."
		cmd.Env = append(env, "OCC_PUBLISH_SUMMARY="+step.summary)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("hack/publish-sandbox %s: %v\n%s", step.flag, err, lastLines(out.String(), 40))
		}
	}
	img.PublishLog, img.PublishTime = out.String(), time.Since(start)
	fmt.Fprintf(os.Stderr, "e2e: published and signed the sandbox in %s\n", img.PublishTime.Round(100*time.Millisecond))
	data, err := os.ReadFile(summary)
	if err != nil {
		return err
	}
	var sum struct {
		Digest    string `json:"digest"`
		Platforms []struct {
			Platform string `json:"platform"`
			Digest   string `json:"digest"`
		} `json:"platforms"`
	}
	if err := json.Unmarshal(data, &sum); err != nil {
		return fmt.Errorf("the publish summary: %w", err)
	}
	img.IndexDigest = sum.Digest
	for _, p := range sum.Platforms {
		if p.Platform == "linux/"+goruntime.GOARCH {
			img.Digest = p.Digest
		}
	}
	if img.Digest == "" {
		return fmt.Errorf("the published index has no linux/%s image: %s", goruntime.GOARCH, data)
	}
	// The merge keeps the staged image byte for byte.
	data, err = os.ReadFile(staged)
	if err != nil {
		return err
	}
	var st struct {
		Platforms []struct {
			Digest string `json:"digest"`
		} `json:"platforms"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("the stage summary: %w", err)
	}
	if len(st.Platforms) != 1 || st.Platforms[0].Digest != img.Digest {
		return fmt.Errorf("the staged image %s is not the published one %s", data, img.Digest)
	}
	return nil
}
