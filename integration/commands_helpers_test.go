//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// The command tests drive the real occ binary (occBinary, built once per
// run: runtime_logdriver_test.go) against the testbed.

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
	f := &cmdFixture{t: t, ctx: ctx, base: base, bin: occBinary(t), runDir: filepath.Join(base, "run")}
	f.paths = meta.Paths{
		ConfigFile: filepath.Join(base, "config", meta.AppName, "config.json"),
		DataDir:    filepath.Join(base, "data", meta.AppName),
	}
	f.env = append(environWithoutDaemons(),
		"XDG_CONFIG_HOME="+filepath.Join(base, "config"),
		"XDG_DATA_HOME="+filepath.Join(base, "data"),
		"OCC_RUN_DIR="+f.runDir,
		"OCC_CONFIG=",
		"NO_COLOR=1",
	)
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
	if bk := os.Getenv("BUILDKIT_HOST"); bk != "" {
		f.cfg.BuildkitAddr = bk
	}
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

// environWithoutDaemons is the environment without the variables that
// override the config's daemon settings (CONTAINERD_ADDRESS, BUILDKIT_HOST,
// …: occ takes them over the config file, as nerdctl does), so that the
// fixture's config decides where occ connects.
func environWithoutDaemons() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE", "CONTAINERD_SNAPSHOTTER", "BUILDKIT_HOST", "CNI_PATH":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (f *cmdFixture) saveConfig() {
	f.t.Helper()
	if err := meta.SaveConfig(f.paths.ConfigFile, f.cfg); err != nil {
		f.t.Fatal(err)
	}
}

// importImage records the test app image as meta.CurrentImageName with
// the given provenance labels (as a pull or build would have).
func (f *cmdFixture) importImage(p meta.Provenance) {
	f.t.Helper()
	e := rtTestbed(f.t)
	ref := rtAppImage(f.t, e)
	nctx := f.client.WithNamespace(f.ctx)
	img := rtPull(nctx, f.t, f.client.Client, ref, meta.CurrentImageName)
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

type occResult struct {
	code           int
	stdout, stderr string
}

func (r occResult) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// occ runs the binary and waits for it.
func (f *cmdFixture) occ(args ...string) occResult {
	f.t.Helper()
	cmd := f.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatalf("run occ %v: %v", args, err)
	}
	return occResult{code: code, stdout: out.String(), stderr: errb.String()}
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
