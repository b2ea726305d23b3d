//go:build integration

package integration

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// smallFS mounts a tmpfs of size bytes on dir (emptied first), unmounted
// at the end of the test.
func smallFS(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+size+",mode=0700"); err != nil {
		t.Skipf("mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
}

// fill writes into dir until the filesystem is full; free removes it.
func fill(t *testing.T, dir string) (free func()) {
	t.Helper()
	p := filepath.Join(dir, "filler")
	fh, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err = fh.Write(buf); err != nil {
			break
		}
	}
	fh.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling %s stopped with %v, want ENOSPC", dir, err)
	}
	// The last partial blocks too.
	for _, n := range []int{4096, 512, 1} {
		if fh, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0); err == nil {
			for {
				if _, err := fh.Write(buf[:n]); err != nil {
					break
				}
			}
			fh.Close()
		}
	}
	return func() {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
}

// noTemps fails on any temporary file of an atomic write left in dir.
func noTemps(t *testing.T, what, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("%s: temporary file left: %s", what, p)
		}
		return nil
	})
}

// TestDiskFull: occ's config directory and data directory, each on a
// small tmpfs filled to the last byte. `occ config set` fails saying so
// and the config stays as it was; `occ image pull` stores the image
// (containerd's disk is not full) and says the state file could not be
// written, and the next command after space is freed writes it from the
// record; `occ start` fails saying the disk is full, and starts once space
// is free. Nothing is lost: config, user records and image records are
// unchanged by every failure, and no temporary file is left.
func TestDiskFull(t *testing.T) {
	e := rtTestbed(t)
	rtAppImage(t, e)
	f := newCmdFixture(t, nil)
	smallFS(t, f.paths.ConfigDir(), "256k")
	// Room for the copy of occ that start installs as the log driver
	// (data/bin), and a little more.
	bin, err := os.Stat(f.bin)
	if err != nil {
		t.Fatal(err)
	}
	smallFS(t, f.paths.DataDir, itoa(int(bin.Size()>>20)+8)+"m")
	f.saveConfig() // the config and alice's record, now on the small filesystems
	cfgBefore, err := os.ReadFile(f.paths.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(f.paths.VolumesDir(), runtime.UsersVolume)
	recBefore, err := os.ReadFile(filepath.Join(users, "alice.json"))
	if err != nil {
		t.Fatal(err)
	}

	// config set on a full config directory.
	free := fill(t, f.paths.ConfigDir())
	r := f.occ("config", "set", "opencode_web_port", "4199")
	if r.code == 0 || !strings.Contains(r.stderr, "no space left on device") {
		t.Errorf("config set on a full disk: %s", r)
	}
	if b, _ := os.ReadFile(f.paths.ConfigFile); !bytes.Equal(b, cfgBefore) {
		t.Errorf("a failed config set changed the config:\n%s", b)
	}
	noTemps(t, "config set", f.paths.ConfigDir())
	free()
	f.mustOK("config", "set", "opencode_web_port", itoa(f.cfg.OpencodeWebPort))

	// image pull on a full data directory: the image is stored, the state
	// is not; the next command writes it from the record.
	free = fill(t, f.paths.DataDir)
	r = f.occ("image", "pull")
	if r.code == 0 || !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, "is stored as "+meta.CurrentImageName) {
		t.Errorf("image pull on a full data directory: %s", r)
	}
	nctx := f.client.WithNamespace(f.ctx)
	img, err := f.client.ImageService().Get(nctx, meta.CurrentImageName)
	if err != nil {
		t.Fatalf("the pulled image has no record: %v", err)
	}
	if _, err := os.Stat(f.paths.StateFile()); err == nil {
		t.Errorf("a state file was written on a full disk")
	}
	noTemps(t, "image pull", f.paths.DataDir)

	// start on a full data directory: a clear error, nothing started.
	r = f.occ("start")
	if r.code == 0 || !strings.Contains(r.stderr, "no space left on device") {
		t.Errorf("start on a full data directory: %s", r)
	}
	if st, err := f.sandbox().Status(f.ctx); err == nil && st.State == "running" {
		t.Errorf("the sandbox runs after a failed start")
	}
	noTemps(t, "start", f.paths.DataDir)
	free()

	// Space again: the next command repairs the state; start works.
	f.mustOK("start")
	st := f.state()
	if p, ok := meta.ProvenanceFromLabels(img.Labels); !ok || st.ManifestDigest != p.ManifestDigest {
		t.Errorf("state after space was freed: %+v, record %v", st, img.Labels)
	}
	if b, _ := os.ReadFile(filepath.Join(users, "alice.json")); !bytes.Equal(b, recBefore) {
		t.Errorf("alice's record changed:\n%s", b)
	}
	f.mustOK("stop")
}
