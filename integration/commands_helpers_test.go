//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// The command tests drive the real occ binary (testutil.OccBinary, built
// once per run) against the testbed.

// cmdNamespace keeps the command tests' images and containers apart.
const cmdNamespace = "occ-cmd-test"

// cmdFixture is one throw-away occ installation: its own config, data and
// run directories, pointed at the testbed's containerd with host
// networking (no bridge shared with other suites), the test app image
// recorded as the current sandbox image.
type cmdFixture struct {
	t      *testing.T
	ctx    context.Context
	base   string
	env    []string
	cfg    *meta.Config
	paths  meta.Paths
	runDir string
	client *runtime.Client
	bin    string
}

func newCmdFixture(t *testing.T, mutate func(*meta.Config)) *cmdFixture {
	t.Helper()
	e := rtTestbed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	base, err := os.MkdirTemp("", "occ-cmd-")
	if err != nil {
		t.Fatal(err)
	}
	in := testutil.NewInstall(t, base)
	f := &cmdFixture{t: t, ctx: ctx, base: base, bin: testutil.OccBinary(t), runDir: in.RunDir, paths: in.Paths, env: in.Env}
	f.cfg = meta.DefaultConfig()
	f.cfg.ContainerdAddr = e.containerd
	f.cfg.ContainerdNamespace = cmdNamespace
	f.cfg.NetworkMode = meta.NetworkHost
	f.cfg.OpencodeWebPort = rtFreePort(t)
	f.cfg.Users = []string{"alice"}
	f.cfg.ImageRepositories = []string{e.registry + "/test/runtime-app"}
	// The test images are tagged latest and unsigned; commands_verify_test.go
	// covers signatures.
	f.cfg.ImageTag = "latest"
	f.cfg.ImageVerify = meta.VerifyOff
	f.cfg.InsecureRegistries = []string{e.registry}
	f.cfg.BuildkitAddr = e.buildkit
	legConfig(t, f.cfg)
	if mutate != nil {
		mutate(f.cfg)
	}
	f.saveConfig()
	f.client, err = runtime.Connect(ctx, e.containerd, cmdNamespace, "overlayfs")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	// Every fixture starts without a sandbox image in the namespace, and
	// leaves none behind.
	dropImages := func(ctx context.Context) {
		for _, n := range []string{meta.CurrentImageName, meta.PreviousImageName} {
			if err := f.client.ImageService().Delete(f.client.WithNamespace(ctx), n); err != nil && !errdefs.IsNotFound(err) {
				t.Errorf("delete image %s: %v", n, err)
			}
		}
	}
	dropImages(ctx)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := f.sandbox().Remove(cctx, 2*time.Second); err != nil {
			t.Errorf("cleanup: remove the sandbox: %v", err)
		}
		dropImages(cctx)
		f.client.Close()
		if err := os.RemoveAll(base); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return f
}

// saveConfig writes the fixture's config, and an enabled user record for
// every listed user that has none: start's security gate counts the
// records (what the sandbox applies), not the list.
func (f *cmdFixture) saveConfig() {
	f.t.Helper()
	if err := meta.SaveConfig(f.paths.ConfigFile, f.cfg); err != nil {
		f.t.Fatal(err)
	}
	dir := filepath.Join(f.paths.VolumesDir(), runtime.UsersVolume)
	for _, u := range f.cfg.Users {
		if _, err := runtime.ReadUserRecord(dir, u); !errdefs.IsNotFound(err) {
			continue
		}
		r, err := runtime.NewUserRecord(u, "fixture-password-"+u)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := runtime.WriteUserRecord(dir, r); err != nil {
			f.t.Fatal(err)
		}
	}
}

// importImage records the test app image as meta.CurrentImageName with
// the given provenance labels (as a pull or build would have).
func (f *cmdFixture) importImage(p meta.Provenance) {
	f.t.Helper()
	e := rtTestbed(f.t)
	ref := rtAppImage(f.t, e)
	nctx := f.client.WithNamespace(f.ctx)
	img := rtPull(nctx, f.t, ctrd(f.t, f.client), ref, meta.CurrentImageName)
	p.ManifestDigest = img.Target().Digest.String()
	rec := img.Metadata()
	rec.Labels = p.Labels()
	if _, err := f.client.ImageService().Update(nctx, rec, "labels"); err != nil {
		f.t.Fatalf("label the image: %v", err)
	}
}

// sandbox is a handle as the binary would make it (occ as the log driver).
func (f *cmdFixture) sandbox() *runtime.Sandbox {
	sb, err := runtime.NewSandbox(f.client, runtime.SpecOptions{Config: f.cfg, Paths: f.paths, RunDir: f.runDir, LogDriver: f.bin})
	if err != nil {
		f.t.Fatal(err)
	}
	return sb
}

// startSandbox creates and starts the container the way `occ start` will.
func (f *cmdFixture) startSandbox() {
	f.t.Helper()
	sb := f.sandbox()
	if _, err := sb.Ensure(f.ctx); err != nil {
		f.t.Fatalf("create: %v", err)
	}
	if err := sb.Start(f.ctx); err != nil {
		f.t.Fatalf("start: %v", err)
	}
	if err := sb.WaitReady(f.ctx, runtime.ReadyOptions{}); err != nil {
		f.t.Fatalf("ready: %v", err)
	}
}

// occResult is a testutil.Result as these tests read it.
type occResult struct {
	code           int
	stdout, stderr string
}

func resultOf(r testutil.Result) occResult {
	return occResult{code: r.Code, stdout: r.Stdout, stderr: r.Stderr}
}

func (r occResult) String() string {
	return testutil.Result{Code: r.code, Stdout: r.stdout, Stderr: r.stderr}.String()
}

// occ runs the binary and waits for it.
func (f *cmdFixture) occ(args ...string) occResult {
	f.t.Helper()
	return resultOf(testutil.Run(f.ctx, f.t, f.bin, f.env, "", 0, args...))
}

func (f *cmdFixture) command(args ...string) *exec.Cmd {
	cmd := exec.CommandContext(f.ctx, f.bin, args...)
	cmd.Env = f.env
	return cmd
}

// mustOK runs occ and fails the test unless it exits 0.
func (f *cmdFixture) mustOK(args ...string) occResult {
	f.t.Helper()
	r := f.occ(args...)
	if r.code != 0 {
		f.t.Fatalf("occ %s: %s", strings.Join(args, " "), r)
	}
	return r
}

func (f *cmdFixture) statusJSON() map[string]any {
	f.t.Helper()
	r := f.mustOK("status", "--json")
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		f.t.Fatalf("status --json: %v\n%s", err, r)
	}
	return m
}

func wantContains(t testing.TB, what, got string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(got, s) {
			t.Errorf("%s: missing %q in:\n%s", what, s, got)
		}
	}
}
