package meta

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// makeReadOnly makes dir unwritable: by mode for normal users, and with a
// read-only bind mount for root (whom modes do not stop).
func makeReadOnly(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		return
	}
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
}

func TestSaveIntoReadOnlyDirKeepsFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	orig := []byte("{\n  \"version\": 1\n}\n")
	if err := os.WriteFile(p, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	makeReadOnly(t, dir)
	c := DefaultConfig()
	c.ImageSource = SourceBuild
	if err := SaveConfig(p, c); err == nil {
		t.Fatal("save into a read-only directory succeeded")
	}
	after, err := os.ReadFile(p)
	if err != nil || string(after) != string(orig) {
		t.Fatalf("file changed: %q %v", after, err)
	}
	if err := SaveState(filepath.Join(dir, "image-state.json"), &ImageState{Provenance: Provenance{Source: SourcePrebuilt}}); err == nil {
		t.Fatal("state save into a read-only directory succeeded")
	}
}
