//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/pkg/build"
)

// rootlessUser is the unprivileged user hack/testbed runs the rootless
// BuildKit as.
const rootlessUser = "occ-tb-rootless"

// TestRootlessBuildKit: the testbed's rootless BuildKit (buildkitd started
// by an unprivileged user under rootlesskit, OCI worker) holds no root
// privilege on the host, and occ builds through it into containerd.
func TestRootlessBuildKit(t *testing.T) {
	addr := os.Getenv("OCC_TEST_BUILDKIT_ROOTLESS")
	if addr == "" {
		t.Fatal("OCC_TEST_BUILDKIT_ROOTLESS is not set: bring the testbed up (hack/testbed up && eval \"$(hack/testbed env)\")")
	}
	e := btSetup(t)
	u, err := user.Lookup(rootlessUser)
	if err != nil {
		t.Fatalf("the rootless user: %v (hack/testbed up creates it)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	if uid == 0 {
		t.Fatalf("%s is uid 0", rootlessUser)
	}

	t.Run("no root privileges", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(e.dir, "pids", "buildkitd-rootless.pid"))
		if err != nil {
			t.Fatal(err)
		}
		kit, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		if comm := procField(t, kit, "Name"); comm != "rootlesskit" {
			t.Fatalf("pid %d is %q, want rootlesskit", kit, comm)
		}
		bk := findDescendant(t, kit, "buildkitd")
		hostNS, _ := os.Readlink("/proc/self/ns/user")
		for _, p := range []struct {
			pid  int
			name string
		}{{kit, "rootlesskit"}, {bk, "buildkitd"}} {
			// Every uid (real, effective, saved, fs) is the user's, as the host sees it.
			for _, f := range strings.Fields(procField(t, p.pid, "Uid")) {
				if f != u.Uid {
					t.Errorf("%s (pid %d) Uid: %s, want %s everywhere", p.name, p.pid, procField(t, p.pid, "Uid"), u.Uid)
					break
				}
			}
			t.Logf("%s pid %d: Uid %s, CapEff %s", p.name, p.pid, procField(t, p.pid, "Uid"), procField(t, p.pid, "CapEff"))
		}
		// rootlesskit, in the host's user namespace: no capability at all.
		if c := procField(t, kit, "CapEff"); strings.Trim(c, "0") != "" {
			t.Errorf("rootlesskit CapEff %s, want none", c)
		}
		// buildkitd: its capabilities are those of root in a user namespace
		// of its own, whose root is the unprivileged user on the host.
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", bk))
		if err != nil || ns == hostNS {
			t.Errorf("buildkitd's user namespace %q (%v) is the host's %q", ns, err, hostNS)
		}
		m, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", bk))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(m)), "\n")
		if f := strings.Fields(lines[0]); len(f) != 3 || f[0] != "0" || f[1] != u.Uid || f[2] != "1" {
			t.Errorf("buildkitd uid_map %q: root inside should be %s (uid %s) outside", m, rootlessUser, u.Uid)
		}
		for _, l := range lines {
			if f := strings.Fields(l); len(f) == 3 && f[1] == "0" {
				t.Errorf("buildkitd uid_map maps host root: %q", m)
			}
		}
		t.Logf("buildkitd uid_map:\n%s", m)
	})

	t.Run("occ builds through it into containerd", func(t *testing.T) {
		ctx := btContext(t, 3*time.Minute)
		rt := btRuntime(t, ctx, e, "occ-it-build-rootless")
		d := btDaemon(t, ctx, addr)
		if d.Worker.Kind != "oci" {
			t.Fatalf("worker kind %q, want oci", d.Worker.Kind)
		}
		store := rt.ImageStore()
		name := btImageName(t)
		t.Cleanup(func() { _ = store.DeleteImage(context.Background(), name) })
		nonce := btNonce()
		dir := btWriteContext(t, e.registry, fmt.Sprintf(
			"RUN echo %s > /nonce && id -u > /built-as\nCMD [\"cat\", \"/nonce\", \"/built-as\"]", nonce))
		bctx, err := build.DirContext(dir)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := build.Build(ctx, d, store, build.Options{Context: bctx, Name: name, StateFile: filepath.Join(t.TempDir(), "state.json")})
		if err != nil {
			t.Fatalf("build through rootless BuildKit: %v", err)
		}
		t.Logf("rootless build: %s, landing %s, %s", res.Digest, res.Landing, time.Since(start).Round(time.Millisecond))
		if res.Landing != build.LandContentStore {
			t.Errorf("landing %q, want %q (the OCI worker writes into containerd's content store)", res.Landing, build.LandContentStore)
		}
		// RUN ran as root inside the build's user namespace: uid 0 there.
		if out := btRun(t, ctx, e, rt, name, "cat", "/nonce", "/built-as"); out != nonce+"\n0\n" {
			t.Errorf("the built image prints %q, want %q", out, nonce+"\n0\n")
		}
	})
}

// procField is a field of /proc/PID/status ("Uid", "CapEff", "Name").
func procField(t *testing.T, pid int, key string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, key)
	return ""
}

// findDescendant is the first process called name under pid.
func findDescendant(t *testing.T, pid int, name string) int {
	t.Helper()
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		// Every thread's children: a Go parent (rootlesskit) forks from
		// whichever thread runs, and /proc/P/task/P/children lists only
		// the main thread's.
		var raw []byte
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p))
		for _, tf := range tasks {
			b, _ := os.ReadFile(tf)
			raw = append(append(raw, b...), ' ')
		}
		for _, f := range strings.Fields(string(raw)) {
			c, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if procField(t, c, "Name") == name {
				return c
			}
			queue = append(queue, c)
		}
	}
	t.Fatalf("no %s under pid %d", name, pid)
	return 0
}
