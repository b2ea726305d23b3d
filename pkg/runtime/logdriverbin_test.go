package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

// TestInstallLogDriver: the shim runs a content-addressed, read-only copy
// under the data directory, not the occ executable (whose owner would get
// root, and whose move or upgrade broke restarts); the copy outlives the
// executable, and an upgrade makes a new one.
func TestInstallLogDriver(t *testing.T) {
	src := filepath.Join(t.TempDir(), "occ")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho v1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := logDriverDir(t.TempDir())
	p1, err := installLogDriver(src, dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(p1) != dir || !strings.HasPrefix(filepath.Base(p1), "occ-log-driver-") {
		t.Fatalf("copy at %s", p1)
	}
	if fi, err := os.Stat(p1); err != nil || fi.Mode().Perm() != 0o555 {
		t.Fatalf("copy mode %v (%v), want 0555", fi.Mode(), err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v (%v), want 0700", fi.Mode(), err)
	}
	if again, err := installLogDriver(src, dir); err != nil || again != p1 {
		t.Fatalf("second install: %s %v", again, err)
	}
	// Upgraded occ: a new copy; the old one stays for containers that
	// still name it, up to logDriverKeep of them.
	var paths []string
	for _, v := range []string{"v2", "v3", "v4", "v5"} {
		if err := os.WriteFile(src, []byte("#!/bin/sh\necho "+v+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		p, err := installLogDriver(src, dir)
		if err != nil || p == p1 {
			t.Fatalf("install %s: %s %v", v, p, err)
		}
		paths = append(paths, p)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "occ-log-driver-*")); len(m) != 1+logDriverKeep {
		t.Errorf("%d copies kept, want %d: %v", len(m), 1+logDriverKeep, m)
	}
	// occ moved away: the copy it made still runs.
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(paths[len(paths)-1]); err != nil {
		t.Fatal(err)
	}
}

// TestLogDriverUntrusted: a copy or a directory that another user could
// change is refused with what to fix.
func TestLogDriverUntrusted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown)")
	}
	setup := func(t *testing.T) (src, data string) {
		src = filepath.Join(t.TempDir(), "occ")
		if err := os.WriteFile(src, []byte("bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		return src, t.TempDir()
	}
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, data, copyPath string)
		want  string
	}{
		{"copy writable", func(t *testing.T, data, p string) { must(t, os.Chmod(p, 0o777)) }, "writable by group or others"},
		{"copy owned by another user", func(t *testing.T, data, p string) { must(t, os.Chown(p, 12345, 12345)) }, "owned by another user"},
		{"copy a symlink", func(t *testing.T, data, p string) {
			must(t, os.Remove(p))
			must(t, os.Symlink("/bin/true", p))
		}, "not a regular file"},
		{"data dir writable", func(t *testing.T, data, p string) { must(t, os.Chmod(data, 0o777)) }, "directory writable by group or others"},
		{"data dir owned by a user", func(t *testing.T, data, p string) { must(t, os.Chown(data, 1000, 1000)) }, "directory owned by another user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, data := setup(t)
			p, err := installLogDriver(src, logDriverDir(data))
			if err != nil {
				t.Fatal(err)
			}
			tc.spoil(t, data, p)
			_, err = installLogDriver(src, logDriverDir(data))
			if err == nil || !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a refusal saying %q", err, tc.want)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
