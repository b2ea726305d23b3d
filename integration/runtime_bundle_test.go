//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/mount"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

// The kill suite's seed 1795837322716882930, replayed deterministically:
// occ SIGKILLed while containerd created the sandbox's task left the task
// bundle directory (<state>/io.containerd.runtime.v2.task/<ns>/<id>) with
// the container's root filesystem mounted in it and no shim, and the next
// start failed with "mkdir <bundle>: file exists". Here the directory is
// made as containerd's shim makes it (the container's snapshot mounted at
// rootfs, a file written through it). The start must unmount and remove
// it and come up, and the container's own files must survive (removing
// through the mount would delete them).
func TestRuntimeStartRemovesStaleBundle(t *testing.T) {
	f := newRTFixture(t, nil)
	if err := f.sb.Create(f.ctx); err != nil {
		t.Fatal(err)
	}
	// The testbed's containerd keeps its state in <testbed>/containerd/state;
	// its socket is <testbed>/run/containerd.sock.
	tb := filepath.Dir(filepath.Dir(rtTestbed(t).containerd))
	bundle := filepath.Join(tb, "containerd", "state", "io.containerd.runtime.v2.task", rtNamespace, f.name)
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(rootfs, 0o711); err != nil {
		t.Fatal(err)
	}
	ctx := f.client.WithNamespace(f.ctx)
	mounts, err := f.client.SnapshotService("overlayfs").Mounts(ctx, f.name+"-snapshot")
	if err != nil {
		t.Fatal(err)
	}
	if err := mount.All(mounts, rootfs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mount.UnmountRecursive(rootfs, 0); _ = os.RemoveAll(bundle) })
	if err := os.WriteFile(filepath.Join(rootfs, "occ-marker"), []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}

	if err := f.sb.Start(f.ctx); err != nil {
		t.Fatalf("start with a stale bundle: %v", err)
	}
	if err := f.sb.WaitReady(f.ctx, runtime.ReadyOptions{}); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := f.exec("", "cat", "/occ-marker"); code != 0 || out != "kept\n" {
		t.Fatalf("the container's file written through the old mount: %q %q exit %d", out, errOut, code)
	}
	if err := f.sb.Remove(f.ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bundle); err == nil {
		t.Errorf("bundle %s still there after the task was deleted", bundle)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), bundle) {
		t.Errorf("something still mounted under %s", bundle)
	}
}
