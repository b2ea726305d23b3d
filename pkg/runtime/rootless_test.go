package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSubIDCount(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subuid")
	body := "alice:100000:65536\n# comment\nbob:165536:1000\n1002:200000:70000\nbob:300000:64536\nbroken:1\n"
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		uid  int
		want int
	}{
		{"alice", 1000, 65536},
		{"bob", 1001, 65536},   // two ranges add up
		{"carol", 1002, 70000}, // by uid
		{"dave", 1003, 0},
		{"broken", 1004, 0},
	} {
		if got := subIDCount(f, tc.name, tc.uid); got != tc.want {
			t.Errorf("subIDCount(%s, %d) = %d, want %d", tc.name, tc.uid, got, tc.want)
		}
	}
	if got := subIDCount(filepath.Join(t.TempDir(), "missing"), "alice", 1000); got != 0 {
		t.Errorf("missing file: %d", got)
	}
}

func TestRootlessStateDir(t *testing.T) {
	for _, tc := range []struct {
		occ, kit, xdg, want string
	}{
		{"/s/occ", "/s/kit", "/run/user/1000", "/s/occ"},
		{"", "/s/kit", "/run/user/1000", "/s/kit"},
		{"", "", "/run/user/1000", "/run/user/1000/containerd-rootless"},
		{"", "", "", ""},
	} {
		t.Setenv(EnvRootlessStateDir, tc.occ)
		t.Setenv(envStateDir, tc.kit)
		t.Setenv("XDG_RUNTIME_DIR", tc.xdg)
		if got := RootlessStateDir(); got != tc.want {
			t.Errorf("RootlessStateDir(%q, %q, %q) = %q, want %q", tc.occ, tc.kit, tc.xdg, got, tc.want)
		}
	}
}

func TestDetectRootless(t *testing.T) {
	t.Setenv(envRootlessChild, "")
	if os.Geteuid() == 0 {
		if r := DetectRootless(); r != nil {
			t.Errorf("root: DetectRootless = %+v, want nil", r)
		}
		if c := RootlessChecks(); c != nil {
			t.Errorf("root: RootlessChecks = %+v, want nil", c)
		}
		return
	}
	// Not root: a state dir whose child is gone is no rootless containerd.
	dir := t.TempDir()
	t.Setenv(EnvRootlessStateDir, dir)
	if err := os.WriteFile(filepath.Join(dir, "child_pid"), []byte("999999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := DetectRootless(); r != nil {
		t.Errorf("stale state dir: DetectRootless = %+v, want nil", r)
	}
}
