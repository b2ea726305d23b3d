//go:build packaging

package packaging

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestRPMPackage reads the .rpm named by OCC_TEST_RPM with rpm -qp (no
// install: this is a Debian machine): the files where Fedora expects them,
// the license marked as such, the recommended runtime packages.
func TestRPMPackage(t *testing.T) {
	pkg := os.Getenv("OCC_TEST_RPM")
	if pkg == "" {
		t.Fatal("OCC_TEST_RPM is not set: make release-snapshot names the package")
	}
	rpm, err := exec.LookPath("rpm")
	if err != nil {
		t.Fatal("rpm is not installed (Debian: apt-get install rpm)")
	}
	query := func(args ...string) []string {
		t.Helper()
		out, err := exec.Command(rpm, append(append([]string{"-qp"}, args...), pkg)...).Output()
		if err != nil {
			t.Fatalf("rpm -qp %s: %v", strings.Join(args, " "), err)
		}
		return strings.Fields(string(out))
	}
	want := []string{
		"/usr/bin/occ",
		"/usr/share/bash-completion/completions/occ",
		"/usr/share/zsh/site-functions/_occ",
		"/usr/share/fish/vendor_completions.d/occ.fish",
		"/usr/share/man/man1/occ.1.gz",
		"/usr/lib/systemd/system/opencode-cloud@.service",
		"/usr/share/licenses/occ/LICENSE",
		"/usr/share/doc/occ/README.md",
		"/usr/share/doc/occ/CHANGELOG.md",
	}
	files := query("-l")
	slices.Sort(files)
	slices.Sort(want)
	if !slices.Equal(files, want) {
		t.Errorf("rpm -qpl:\n%s\nwant:\n%s", strings.Join(files, "\n"), strings.Join(want, "\n"))
	}
	if lic := query("-L"); !slices.Equal(lic, []string{"/usr/share/licenses/occ/LICENSE"}) {
		t.Errorf("rpm -qpL (license files): %v", lic)
	}
	if rec := query("--recommends"); !slices.Equal(rec, []string{"containerd", "runc", "containernetworking-plugins", "iptables"}) {
		t.Errorf("rpm -qp --recommends: %v", rec)
	}
	if lic := query("--qf", "%{LICENSE}"); !slices.Equal(lic, []string{"MIT"}) {
		t.Errorf("license: %v", lic)
	}
}
