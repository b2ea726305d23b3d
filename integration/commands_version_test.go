//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/meta"
)

// pushVersionedApp publishes the test app with an org.opencode-cloud.version
// label under tag, and returns the tag.
func pushVersionedApp(t *testing.T, version string) string {
	t.Helper()
	tag := "v" + version
	pushAppVariant(t, fmt.Sprintf("%s/test/runtime-app:%s", rtTestbed(t).registry, tag), func(c *v1.Config) {
		c.Labels[meta.ImageVersionLabel] = version
	})
	return tag
}

// TestCommandsStartVersionCheck: an image whose version differs from occ's
// is warned about (at most hourly) off a terminal, never with
// update_check never or --ignore-version, and with update_check once the
// answer given on a terminal is remembered for that image.
func TestCommandsStartVersionCheck(t *testing.T) {
	const other = "9.9.9"
	tag := pushVersionedApp(t, other)
	f := newCmdFixture(t, func(c *meta.Config) { c.ImageTag = tag })
	warning := "the sandbox image is v" + other + " but occ is v" + meta.Version

	r := f.mustOK("start") // pulls: a fresh image is not checked
	if strings.Contains(r.stderr, warning) {
		t.Errorf("a just-pulled image was version-checked: %s", r)
	}
	f.mustOK("stop")
	r = f.mustOK("start")
	wantContains(t, "start with a mismatched image", r.stderr, warning)
	f.mustOK("stop")
	if r := f.mustOK("start"); strings.Contains(r.stderr, warning) {
		t.Errorf("the mismatch warning came again within the hour: %s", r)
	}
	f.mustOK("stop")

	// update_check once, on a terminal: asked once, the answer remembered.
	f.cfg.UpdateCheck = meta.UpdateCheckOnce
	f.saveConfig()
	out, code := f.occOnTTY([]ttyAnswer{{"What would you like to do?", "3\n"}}, "start")
	if code != 0 {
		t.Fatalf("start (once, continue): %d\n%s", code, out)
	}
	wantContains(t, "once: first start", out, "version mismatch: the sandbox image is v"+other, "Continue with mismatched versions")
	f.mustOK("stop")
	out, code = f.occOnTTY(nil, "start")
	if code != 0 || strings.Contains(out, "version mismatch") {
		t.Errorf("once: asked again for the same image: %d\n%s", code, out)
	}
	mem := meta.LoadUpdateCheck(f.paths.UpdateCheckFile())
	if a, ok := mem.Answer(meta.Version, ""); ok {
		t.Errorf("answer recorded without a digest: %v", a)
	}
	if len(mem.Answers) != 1 || mem.Answers[0].Answer != meta.UpdateAnswerContinue || !strings.HasPrefix(mem.Answers[0].ImageDigest, "sha256:") {
		t.Errorf("remembered answers: %+v", mem.Answers)
	}
	f.mustOK("stop")

	// always, on a terminal, but skipped by --ignore-version and by never.
	f.cfg.UpdateCheck = meta.UpdateCheckAlways
	f.saveConfig()
	if out, code := f.occOnTTY(nil, "start", "--ignore-version"); code != 0 || strings.Contains(out, "version mismatch") {
		t.Errorf("--ignore-version still checked: %d\n%s", code, out)
	}
	f.mustOK("stop")
	f.cfg.UpdateCheck = meta.UpdateCheckNever
	f.saveConfig()
	if out, code := f.occOnTTY(nil, "start"); code != 0 || strings.Contains(out, "version mismatch") {
		t.Errorf("update_check never still checked: %d\n%s", code, out)
	}
}

// versionJSON is the part of `occ version --json` the test reads.
type versionJSON struct {
	Occ struct {
		Version, Commit, Platform string
		GoVersion                 string `json:"go_version"`
	} `json:"occ"`
	ConfigError                string `json:"config_error"`
	Containerd, Runc, Buildkit struct {
		Version, Revision, Address, Error string
	}
}

func (f *cmdFixture) versionJSON(env ...string) (versionJSON, occResult, time.Duration) {
	f.t.Helper()
	cmd := f.command("version", "--json")
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	r := occResult{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
	if err != nil || r.code != 0 {
		f.t.Fatalf("occ version --json: %v\n%s", err, r)
	}
	var v versionJSON
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		f.t.Fatalf("occ version --json: %v\n%s", err, r)
	}
	return v, r, took
}

// TestCommandsVersion: `occ version` names occ's build and the versions
// containerd, runc and BuildKit give when asked directly; with no daemons,
// or daemons that accept a connection and never answer, it still succeeds
// within its timeout and says what did not answer.
func TestCommandsVersion(t *testing.T) {
	f := newCmdFixture(t, nil)
	if f.cfg.BuildkitAddr == "" {
		t.Fatal("BUILDKIT_HOST is not set: run `eval \"$(hack/testbed env)\"` first")
	}
	v, r, _ := f.versionJSON()
	if v.Occ.Version != meta.Version || v.Occ.Commit == "" || v.Occ.GoVersion != goruntime.Version() || v.Occ.Platform != goruntime.GOOS+"/"+goruntime.GOARCH {
		t.Errorf("occ's own version: %+v (want %s, %s, %s/%s)", v.Occ, meta.Version, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
	}
	want, err := f.client.Version(f.client.WithNamespace(f.ctx))
	if err != nil {
		t.Fatal(err)
	}
	if v.Containerd.Version != want.Version || v.Containerd.Revision != want.Revision || v.Containerd.Error != "" {
		t.Errorf("containerd: %+v, want %+v", v.Containerd, want)
	}
	d, err := build.Connect(f.ctx, []string{f.cfg.BuildkitAddr})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if v.Buildkit.Version != d.Version || v.Buildkit.Address != d.Address || v.Buildkit.Error != "" {
		t.Errorf("BuildKit: %+v, want %s at %s", v.Buildkit, d.Version, d.Address)
	}
	runcPath, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(runcPath, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(string(out), "\n"); v.Runc.Version == "" || first != "runc version "+v.Runc.Version || v.Runc.Address != runcPath {
		t.Errorf("runc: %+v, want %q from %s", v.Runc, first, runcPath)
	}
	text := f.mustOK("version")
	wantContains(t, "occ version", text.stdout, "Version:    "+meta.Version, "containerd:\n  Version:    "+want.Version, "BuildKit:\n  Version:    "+d.Version)
	if strings.Contains(r.stdout, "not reachable") {
		t.Errorf("a daemon was not reachable: %s", r)
	}
	if got := f.mustOK("--version").stdout; got != fmt.Sprintf("occ %s (commit %s)\n", meta.Version, v.Occ.Commit) {
		t.Errorf("occ --version = %q", got)
	}

	// Sockets that accept and never answer, no runc on PATH.
	dir := t.TempDir()
	mute := func(name string) string {
		p := filepath.Join(dir, name)
		l, err := net.Listen("unix", p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
			}
		}()
		return p
	}
	f.cfg.ContainerdAddr = mute("containerd.sock")
	f.cfg.BuildkitAddr = "unix://" + mute("buildkitd.sock")
	f.saveConfig()
	v, r, took := f.versionJSON("PATH=" + dir)
	if v.Occ.Version != meta.Version {
		t.Errorf("occ's own version without daemons: %+v", v.Occ)
	}
	if v.Containerd.Version != "" || v.Containerd.Error == "" || v.Buildkit.Version != "" || v.Buildkit.Error == "" ||
		v.Runc.Error != "not found on PATH" {
		t.Errorf("mute daemons and no runc reported as: %s", r)
	}
	if took > 8*time.Second {
		t.Errorf("occ version with mute daemons took %s", took)
	}
	t.Logf("occ version with mute daemons: %s", took.Round(10*time.Millisecond))

	// No daemons at all (nothing at the sockets).
	f.cfg.ContainerdAddr = filepath.Join(dir, "none", "containerd.sock")
	f.cfg.BuildkitAddr = "unix://" + filepath.Join(dir, "none", "buildkitd.sock")
	f.saveConfig()
	v, r, took = f.versionJSON()
	wantContains(t, "no containerd", v.Containerd.Error, "not reachable", f.cfg.ContainerdAddr)
	wantContains(t, "no BuildKit", v.Buildkit.Error, "not reachable", f.cfg.BuildkitAddr)
	if v.Runc.Version == "" {
		t.Errorf("runc without daemons: %s", r)
	}
	if took > 3*time.Second {
		t.Errorf("occ version without daemons took %s", took)
	}
}
