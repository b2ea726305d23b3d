//go:build packaging

package packaging

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// installed are the files the package must put where Debian expects them.
var installed = []string{
	"/usr/bin/occ",
	"/usr/share/bash-completion/completions/occ",
	"/usr/share/zsh/vendor-completions/_occ",
	"/usr/share/fish/vendor_completions.d/occ.fish",
	"/usr/share/man/man1/occ.1.gz",
	"/usr/lib/systemd/system/opencode-cloud@.service",
	"/usr/share/doc/occ/copyright",
	"/usr/share/doc/occ/README.md",
	"/usr/share/doc/occ/CHANGELOG.md",
}

// dpkg runs dpkg, waiting out another dpkg or apt holding the lock (a
// testbed bring-up installing packages) for up to 2 minutes.
func dpkg(t *testing.T, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := exec.Command("dpkg", args...).CombinedOutput()
		if err == nil {
			return string(out)
		}
		if strings.Contains(string(out), "lock") && time.Now().Before(deadline) {
			time.Sleep(2 * time.Second)
			continue
		}
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func packageStatus(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Status}", "occ").Output()
	if err != nil {
		return "not-installed"
	}
	return strings.TrimSpace(string(out))
}

// TestDebPackage installs the .deb named by OCC_TEST_DEB with dpkg -i,
// runs the installed occ, checks the completions, man page and unit are
// where Debian's tools look for them, and purges it: nothing of it is left.
func TestDebPackage(t *testing.T) {
	deb := os.Getenv("OCC_TEST_DEB")
	if deb == "" {
		t.Fatal("OCC_TEST_DEB is not set: make test-deb (or make deb) names the package")
	}
	if os.Geteuid() != 0 {
		t.Fatal("installing a package needs root")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query", "man", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (Debian: apt-get install dpkg man-db bash)", tool)
		}
	}
	if s := packageStatus(t); s != "not-installed" {
		t.Fatalf("the occ package is already on this machine (%s): remove it first (dpkg -P occ); the test installs and purges its own", s)
	}
	for _, f := range installed {
		if _, err := os.Lstat(f); err == nil {
			t.Fatalf("%s exists but no occ package is installed: move it away first", f)
		}
	}
	wantVersion := strings.TrimSpace(dpkgDeb(t, "-f", deb, "Version"))

	dpkg(t, "-i", deb)
	t.Cleanup(func() {
		if packageStatus(t) != "not-installed" {
			_, _ = exec.Command("dpkg", "-P", "occ").CombinedOutput()
		}
	})
	if s := packageStatus(t); s != "installed" {
		t.Fatalf("after dpkg -i the package is %s", s)
	}
	for _, f := range installed {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("installed file: %v", err)
		}
	}
	listed := dpkg(t, "-L", "occ")
	for _, f := range installed {
		if !strings.Contains(listed, f+"\n") {
			t.Errorf("dpkg -L occ does not list %s", f)
		}
	}

	// The installed occ runs, without any daemon, and says its version.
	env := append(os.Environ(), "HOME="+t.TempDir(), "XDG_CONFIG_HOME=", "XDG_DATA_HOME=", "OCC_CONFIG=", "NO_COLOR=1",
		"CONTAINERD_ADDRESS="+filepath.Join(t.TempDir(), "none.sock"), "BUILDKIT_HOST=unix://"+filepath.Join(t.TempDir(), "none.sock"))
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("occ", args...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("occ %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if p, err := exec.LookPath("occ"); err != nil || p != "/usr/bin/occ" {
		t.Errorf("occ on PATH is %q (%v), want /usr/bin/occ", p, err)
	}
	var v struct {
		Occ struct {
			Version, Commit, Platform string
		} `json:"occ"`
		Containerd struct{ Error string } `json:"containerd"`
	}
	if err := json.Unmarshal([]byte(run("version", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	// Debian spells a semver pre-release with "~" (0.1.0-rc.1 sorts before 0.1.0).
	if debVersion(v.Occ.Version) != wantVersion || v.Occ.Commit == "" || v.Occ.Commit == "unknown" || v.Containerd.Error == "" {
		t.Errorf("occ version --json from the package %s: %+v", wantVersion, v)
	}
	if out := run("--version"); !strings.HasPrefix(out, "occ "+v.Occ.Version+" (commit ") {
		t.Errorf("occ --version: %q", out)
	}

	// man finds the page; bash's completion loader finds occ's glue, and
	// occ answers it.
	if out, err := exec.Command("man", "-w", "occ").Output(); err != nil || strings.TrimSpace(string(out)) != "/usr/share/man/man1/occ.1.gz" {
		t.Errorf("man -w occ: %q %v", out, err)
	}
	if out, err := exec.Command("sh", "-c", "MANWIDTH=80 man -P cat occ 2>/dev/null | head -n 20").Output(); err != nil || !strings.Contains(string(out), "occ setup") {
		t.Errorf("man occ: %v\n%s", err, out)
	}
	bash := `source /usr/share/bash-completion/completions/occ && complete -p occ`
	if out, err := exec.Command("bash", "-c", bash).CombinedOutput(); err != nil || !strings.Contains(string(out), "-C 'occ' occ") {
		t.Errorf("bash completion: %v %q", err, out)
	}
	comp := exec.Command("occ")
	comp.Env = append(env, "COMP_LINE=occ vers")
	if out, err := comp.Output(); err != nil || strings.TrimSpace(string(out)) != "version" {
		t.Errorf("completion answer for 'occ vers': %q %v", out, err)
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		// Checks the template's syntax and that ExecStart exists; systemd need not run.
		out, err := exec.Command(sa, "verify", "/usr/lib/systemd/system/opencode-cloud@.service").CombinedOutput()
		if err != nil && strings.Contains(string(out), "opencode-cloud@") {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}

	// Purge: the package and every file it brought are gone.
	dpkg(t, "-P", "occ")
	if s := packageStatus(t); s != "not-installed" {
		t.Errorf("after dpkg -P the package is %s", s)
	}
	for _, f := range installed {
		if _, err := os.Lstat(f); err == nil {
			t.Errorf("%s is left after dpkg -P occ", f)
		}
	}
	if _, err := os.Stat("/usr/share/doc/occ"); err == nil {
		t.Error("/usr/share/doc/occ is left after dpkg -P occ")
	}
}

func dpkgDeb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", args...).Output()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// debVersion is nfpm's Debian spelling of a semver version: the
// pre-release after "~", build metadata after "+".
func debVersion(v string) string {
	core, build, _ := strings.Cut(v, "+")
	if c, pre, ok := strings.Cut(core, "-"); ok {
		core = c + "~" + pre
	}
	if build != "" {
		return core + "+" + build
	}
	return core
}
