//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/internal/sectest"
	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// Limits of the sandbox under attack: low enough that the fork bomb and the
// allocation reach them fast, high enough for the sandbox's own processes
// (tini, the entrypoint, nginx and its workers, opencode's threads).
const (
	escapePidsLimit = 256
	escapeMemory    = "1g"
	escapeAllocMiB  = 1536
	probeTarget     = "/opt/occ-probe"
)

// TestEscapeFromInside runs, inside the real sandbox (the shared build),
// what an attacker who controls the agent would try, as the agent's user
// (opencoder, uid 1000, no capabilities) and as the sandbox's root (its
// six capabilities): mount, unshare, keyctl, ptrace of another user's
// process, mknod, open_by_handle_at, the host through /proc and /sys, a
// write to a read-only mount, a fork bomb and an allocation past the
// memory limit. Each must be refused or contained (e2e/testdata/
// escapeprobe says how it decides), and afterwards the sandbox still
// answers, its processes still run, and the host still forks. Another
// host user (uid 1000) cannot read the agent's environment or root.
func TestEscapeFromInside(t *testing.T) {
	e := setup(t)
	probeDir := t.TempDir()
	if err := os.Chmod(probeDir, 0o755); err != nil { // the sandbox's ids are not the host's
		t.Fatal(err)
	}
	if err := testutil.GoBuild(filepath.Join(probeDir, "escapeprobe"), "./e2e/testdata/escapeprobe", []string{"CGO_ENABLED=0"}); err != nil {
		t.Fatalf("build the probe: %v", err)
	}
	port := freePort(t)
	for k, v := range map[string]string{
		"opencode_web_port": strconv.Itoa(port), "cni_plugin_dirs": "/usr/lib/cni,/opt/cni/bin",
		"pids_limit": strconv.Itoa(escapePidsLimit), "memory_limit": escapeMemory, "mounts": probeDir + ":" + probeTarget + ":ro",
	} {
		e.must("", "config", "set", k, v)
	}
	// OCC_E2E_ESCAPE_UNISOLATED=1 runs the same probes against a sandbox
	// without the isolation (the negative control: it must fail).
	unisolated := os.Getenv("OCC_E2E_ESCAPE_UNISOLATED") != ""
	if unisolated {
		for k, v := range map[string]string{"seccomp": "false", "userns": "false", "pids_limit": "0", "memory_limit": "none", "cpu_limit": "none"} {
			e.must("", "config", "set", k, v)
		}
	}
	theSandboxImage(t)
	cfg, _, err := meta.LoadConfig(e.paths.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	client, err := runtime.Connect(e.ctx, cfg.ContainerdAddress(), cfg.ContainerdNamespace, cfg.Snapshotter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	slot := (os.Getpid() + 101) % 200
	sb, err := runtime.NewSandbox(client, runtime.SpecOptions{
		Config: cfg, Paths: e.paths, RunDir: e.runDir, Name: "occ-e2e-escape",
		Network: runtime.NetworkOptions{Name: fmt.Sprintf("occ-e2e-esc-%d", slot), Bridge: fmt.Sprintf("occesc%d", slot),
			Subnet: fmt.Sprintf("10.217.%d.0/24", slot)},
		ExtraEnv: []string{"OPENCODE_CLOUD_OFFLINE=1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Remove(e.ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if t.Failed() {
			if lines, err := sb.LastLogLines(cctx, 40); err == nil {
				t.Logf("sandbox log:\n%s", strings.Join(lines, "\n"))
			}
		}
		if err := sb.Remove(cctx, 5*time.Second); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		_ = exec.Command("ip", "link", "del", fmt.Sprintf("occesc%d", slot)).Run()
	})
	t0 := time.Now()
	if err := sb.Create(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := sb.WaitReady(e.ctx, runtime.ReadyOptions{Timeout: 3 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	t.Logf("sandbox ready in %s (unisolated: %v)", time.Since(t0).Round(100*time.Millisecond), unisolated)
	st, err := sb.Status(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	health := func(when string) {
		t.Helper()
		hc := &http.Client{Timeout: 20 * time.Second}
		resp, err := hc.Get("http://" + runtime.ProbeAddress(st.Published) + "/global/health")
		if err != nil {
			t.Fatalf("%s: the gateway does not answer: %v", when, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: /global/health answered %d", when, resp.StatusCode)
		}
	}
	health("before")
	iso, err := sb.IsolationInForce(e.ctx)
	if err != nil || (!unisolated && (!iso.Seccomp || !iso.UserNS || iso.PidsLimit != escapePidsLimit || iso.MemoryBytes != 1<<30)) {
		t.Fatalf("isolation in force: %+v %v", iso, err)
	}
	before := sandboxProcesses(t, st.Pid)
	agent := 0
	for pid, p := range before {
		if p.uid == iso.HostID(runtime.OpencoderUID) && (agent == 0 || pid < agent) {
			agent = pid
		}
	}
	if agent == 0 {
		t.Fatalf("no process of the agent's user in the sandbox: %v", before)
	}
	// Another host user reaches neither the agent nor the sandbox's root.
	sectest.HostUserCannotReach(t, agent)
	sectest.HostUserCannotReach(t, int(st.Pid))

	probe := func(who string, uid uint32, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		code, err := sb.Exec(e.ctx, runtime.ExecOptions{Args: append([]string{probeTarget + "/escapeprobe"}, args...),
			UID: uid, GID: uid, Stdout: &out, Stderr: &errb})
		if err != nil {
			t.Fatalf("%s: probe %v: %v", who, args, err)
		}
		res := strings.TrimSpace(out.String())
		if code != 0 || !strings.HasPrefix(res, "contained:") {
			t.Errorf("%s: %s: exit %d: %s %s", who, strings.Join(args, " "), code, res, errb.String())
		} else {
			t.Logf("%s: %s: %s", who, args[0], res)
		}
		return res
	}
	t1 := time.Now()
	for _, who := range []struct {
		name string
		uid  uint32
	}{{"agent (uid 1000)", runtime.OpencoderUID}, {"sandbox root", 0}} {
		for _, c := range [][]string{{"mount"}, {"unshare"}, {"keyctl"}, {"ptrace"}, {"mknod"}, {"open_by_handle_at"}, {"proc"}, {"rofs", probeTarget}} {
			probe(who.name, who.uid, c...)
		}
		res := probe(who.name, who.uid, "forkbomb", strconv.Itoa(4*escapePidsLimit))
		var n int
		if _, err := fmt.Sscanf(res, "contained: fork refused after %d processes", &n); err != nil || n >= escapePidsLimit {
			t.Errorf("%s: fork bomb: %q: want refused before %d processes", who.name, res, escapePidsLimit)
		}
		health("after " + who.name + "'s fork bomb")
	}
	probe("agent (uid 1000)", runtime.OpencoderUID, "alloc", strconv.Itoa(escapeAllocMiB))
	t.Logf("probes ran in %s", time.Since(t1).Round(100*time.Millisecond))

	// Contained: the sandbox still answers, every process it had still
	// runs, the host still forks.
	health("after the probes")
	after := sandboxProcesses(t, st.Pid)
	for pid, p := range before {
		if q, ok := after[pid]; !ok || q.start != p.start {
			t.Errorf("process %d (%s) of the sandbox did not survive the probes", pid, p.comm)
		}
	}
	if out, err := exec.Command("sh", "-c", "for i in 1 2 3 4 5 6 7 8; do /bin/true & done; wait; echo ok").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("the host cannot fork after the fork bomb: %v %s", err, out)
	}
	if st2, err := sb.Status(e.ctx); err != nil || st2.State != runtime.StateRunning || st2.Pid != st.Pid {
		t.Errorf("the sandbox after the probes: %+v %v", st2, err)
	}
}

type proc struct {
	uid   int
	comm  string
	start string // start time in clock ticks: tells a process from a new one with its pid
}

// sandboxProcesses lists the host's view of the processes in the pid
// namespace of init (a host pid).
func sandboxProcesses(t *testing.T, init uint32) map[int]proc {
	t.Helper()
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", init))
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]proc{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if n, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err != nil || n != ns {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// comm is in parentheses and may hold spaces; the fields after it are fixed.
		s := string(stat)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		fields := strings.Fields(s[close+1:])
		if len(fields) < 20 {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat(fmt.Sprintf("/proc/%d", pid), &st); err != nil {
			continue
		}
		out[pid] = proc{uid: int(st.Uid), comm: s[open+1 : close], start: fields[19]}
	}
	return out
}
