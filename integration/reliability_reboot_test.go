//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// TestDaemonRestartAndReboot, on a testbed of its own (its containerd is
// killed): an occ sandbox in CNI mode started by the real binary, then
//
//  1. containerd SIGKILLed while the sandbox runs and started again: the
//     sandbox answers throughout, status sees the same task, restart works;
//  2. a reboot, simulated: the sandbox's processes, the shims and
//     containerd SIGKILLed, everything a reboot clears wiped (containerd's
//     state directory, the runtime directories, occ's run directory with
//     the network namespace, the bridge and its veth), containerd started
//     again: `occ start` brings the sandbox back on its address, with the
//     workspace volume's files and the user records as they were.
func TestDaemonRestartAndReboot(t *testing.T) {
	e := rtTestbed(t)
	rtAppImage(t, e) // test/runtime-app:latest in the main testbed's registry
	f := newCmdFixture(t, nil)
	dir := fmt.Sprintf("/tmp/occ-tbr-%d", os.Getpid())
	port := rtFreePort(t)
	tb := func(cmd string) {
		t.Helper()
		c := exec.Command("hack/testbed", cmd)
		c.Dir = ".."
		c.Env = append(os.Environ(), "OCC_TESTBED_DIR="+dir, fmt.Sprintf("OCC_TESTBED_REGISTRY_PORT=%d", port), "OCC_BIN="+f.bin)
		t0 := time.Now()
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("hack/testbed %s: %v\n%s", cmd, err, out)
		}
		t.Logf("hack/testbed %s: %s", cmd, time.Since(t0).Round(time.Millisecond))
	}
	slot := (os.Getpid() + 77) % 250
	bridge := fmt.Sprintf("occtbr%d", slot)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", bridge).Run() })
	t.Cleanup(func() {
		c := exec.Command("hack/testbed", "down")
		c.Dir = ".."
		c.Env = append(os.Environ(), "OCC_TESTBED_DIR="+dir, fmt.Sprintf("OCC_TESTBED_REGISTRY_PORT=%d", port), "OCC_BIN="+f.bin)
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("cleanup: hack/testbed down: %v\n%s", err, out)
		}
	})
	tb("up")
	sock := filepath.Join(dir, "run", "containerd.sock")
	f.env = append(f.env, "OCC_CNI_BRIDGE="+bridge, fmt.Sprintf("OCC_CNI_SUBNET=10.217.%d.0/24", slot))
	f.cfg.ContainerdAddr = sock
	f.cfg.NetworkMode = meta.NetworkCNI
	f.cfg.CNIPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	f.saveConfig()
	url := "http://127.0.0.1:" + itoa(f.cfg.OpencodeWebPort) + "/"

	f.mustOK("start")
	rtGet(t, url)
	client, err := runtime.Connect(f.ctx, sock, cmdNamespace, "overlayfs")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	taskPid := func() uint32 {
		t.Helper()
		nctx := client.WithNamespace(f.ctx)
		c, err := ctrd(t, client).LoadContainer(nctx, meta.ContainerName)
		if err != nil {
			t.Fatal(err)
		}
		task, err := c.Task(nctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return task.Pid()
	}
	pid0 := taskPid()
	killDaemon := func(name string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "pids", name+".pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %s (%d): %v", name, pid, err)
		}
		rtEventually(t, name+" gone", 10*time.Second, func() bool { return !meta.ProcessAlive(pid) })
	}

	// 1. containerd restarted under a running sandbox.
	killDaemon("containerd")
	hc := &http.Client{Timeout: 5 * time.Second}
	if resp, err := hc.Get(url); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the sandbox does not answer while containerd is down: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	tb("up")
	client.Close()
	if client, err = runtime.Connect(f.ctx, sock, cmdNamespace, "overlayfs"); err != nil {
		t.Fatal(err)
	}
	if p := taskPid(); p != pid0 {
		t.Errorf("after a containerd restart the task is %d, was %d", p, pid0)
	}
	r := f.mustOK("status")
	wantContains(t, "status after a containerd restart", r.stdout, "State:          running")
	f.mustOK("restart")
	rtGet(t, url)

	// 2. A reboot.
	keep := filepath.Join(f.paths.VolumesDir(), "opencode-workspace", "keep-across-reboot.txt")
	if err := os.MkdirAll(filepath.Dir(keep), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keep, []byte("still here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(f.paths.VolumesDir(), runtime.UsersVolume)
	recBefore, err := os.ReadFile(filepath.Join(users, "alice.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(int(taskPid()), syscall.SIGKILL); err != nil { // init of its pid namespace: all of it goes
		t.Fatal(err)
	}
	if out, _ := exec.Command("pkill", "-KILL", "-f", "containerd-shim.*"+dir).CombinedOutput(); len(out) > 0 {
		t.Logf("pkill shims: %s", out)
	}
	killDaemon("containerd")
	client.Close()
	// What a reboot clears: mounts first (rootfs overlays, the network
	// namespace's bind mount), then the directories.
	wipe := []string{filepath.Join(dir, "containerd", "state"), f.runDir}
	for _, d := range []string{"runc", "fifo", "netns", "s"} {
		wipe = append(wipe, filepath.Join(dir, "run", d))
	}
	mps := tbdMountsUnder(t, wipe...)
	sort.Sort(sort.Reverse(sort.StringSlice(mps)))
	for _, mp := range mps {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil {
			t.Logf("unmount %s: %v", mp, err)
		}
	}
	for _, d := range wipe {
		if err := os.RemoveAll(d); err != nil {
			t.Fatalf("wipe %s: %v", d, err)
		}
	}
	_ = exec.Command("ip", "link", "del", bridge).Run()
	tb("up")
	t0 := time.Now()
	r = f.mustOK("-v", "start")
	t.Logf("occ start after the reboot (%s):\n%s", time.Since(t0).Round(time.Millisecond), r.stderr)
	wantContains(t, "start after a reboot", r.stdout, "URL:        "+strings.TrimSuffix(url, "/"))
	rtGet(t, url)
	if b, err := os.ReadFile(keep); err != nil || string(b) != "still here\n" {
		t.Errorf("the workspace file after a reboot: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(users, "alice.json")); err != nil || string(b) != string(recBefore) {
		t.Errorf("alice's record after a reboot: %v\n%s", err, b)
	}
	r = f.mustOK("user", "list")
	wantContains(t, "user list after a reboot", r.stdout, "alice")
	f.mustOK("stop")
}
