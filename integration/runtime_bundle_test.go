//go:build integration

package integration

import (
	"encoding/json"
	"os"
	"os/exec"
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
	mounts, err := ctrd(t, f.client).SnapshotService("overlayfs").Mounts(ctx, f.name+"-snapshot")
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

// A start killed while runc created the task leaves runc's state of the
// half-made container (its init process waiting in its cgroup) under
// occ's runc root, and every later task creation failed with "runc create
// failed: container with given ID already exists" (kill suite seeds
// 1796294378510473617, 1796294738284531029). Made here with runc itself:
// a container of the sandbox's id created, not started, in the root the
// shim uses. The start must delete it and come up.
func TestRuntimeStartDeletesStaleRuncState(t *testing.T) {
	f := newRTFixture(t, nil)
	if err := f.sb.Create(f.ctx); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(f.runDir, "runc", rtNamespace) // the shim's --root for the namespace
	bundle := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox (the testbed installs busybox-static)")
	}
	if out, err := exec.Command("cp", bb, filepath.Join(rootfs, "sh")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := exec.Command("runc", "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	specPath := filepath.Join(bundle, "config.json")
	var spec map[string]any
	b, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	proc := spec["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = []string{"/sh", "-c", "sleep 600"}
	if b, err = json.Marshal(spec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Not CombinedOutput: the container's waiting init keeps runc's stdio,
	// so a pipe would never close. Its stdio is /dev/null; runc's errors
	// go to a file.
	errFile := filepath.Join(bundle, "runc-create.err")
	ef, err := os.Create(errFile)
	if err != nil {
		t.Fatal(err)
	}
	create := exec.Command("runc", "--root", root, "create", "--bundle", bundle, f.name)
	create.Stderr = ef
	err = create.Run()
	ef.Close()
	if err != nil {
		out, _ := os.ReadFile(errFile)
		t.Fatalf("runc create: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("runc", "--root", root, "delete", "--force", f.name).Run() })

	if err := f.sb.Start(f.ctx); err != nil {
		t.Fatalf("start with runc's stale state: %v", err)
	}
	if err := f.sb.WaitReady(f.ctx, runtime.ReadyOptions{}); err != nil {
		t.Fatal(err)
	}
	rtGet(t, f.url("/"))
	out, err := exec.Command("runc", "--root", root, "state", f.name).Output()
	if err != nil {
		t.Fatalf("runc state of the new task: %v", err)
	}
	var st struct{ Bundle, Status string }
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
	if st.Bundle == bundle || st.Status != "running" {
		t.Errorf("runc's container is %+v, want the new task's, running", st)
	}
}
