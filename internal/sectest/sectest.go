// Package sectest holds the security checks of a sandbox container that
// both the integration tests (test image) and the end-to-end test (the
// real sandbox) run: its capabilities, no_new_privs, namespaces, and
// mounts, in containerd's spec and on the host.
package sectest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// WantCaps is the exact capability set of the sandbox container. Written
// out here (not taken from runtime.SandboxCapabilities) so that widening
// it fails this test.
var WantCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"}

// capMask is the /proc/PID/status bit mask of WantCaps.
func capMask() uint64 {
	bits := map[string]uint{"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7}
	var m uint64
	for _, c := range WantCaps {
		m |= 1 << bits[c]
	}
	return m
}

// CheckSandboxSpec asserts the isolation of a sandbox container's spec:
// the exact capabilities, no_new_privs, its own pid/ipc/uts/mount/network
// namespaces (none of the host's), not privileged, and no bind mount but
// occ's own files, its volumes and the configured mounts. Used by the
// integration test (test image) and the e2e test (the real sandbox).
func CheckSandboxSpec(t testing.TB, sp *oci.Spec, dataDir string, mounts []string) {
	t.Helper()
	c := sp.Process.Capabilities
	for what, got := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
		g := append([]string(nil), got...)
		sort.Strings(g)
		if strings.Join(g, ",") != strings.Join(WantCaps, ",") {
			t.Errorf("%s capabilities %v, want exactly %v", what, g, WantCaps)
		}
	}
	if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
		t.Errorf("inheritable %v / ambient %v capabilities, want none", c.Inheritable, c.Ambient)
	}
	if !sp.Process.NoNewPrivileges {
		t.Error("no_new_privs is off")
	}
	ns := map[specs.LinuxNamespaceType]specs.LinuxNamespace{}
	for _, n := range sp.Linux.Namespaces {
		ns[n.Type] = n
	}
	for _, typ := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace, specs.NetworkNamespace} {
		n, ok := ns[typ]
		switch {
		case !ok:
			t.Errorf("no %s namespace: the container would share the host's", typ)
		case typ != specs.NetworkNamespace && n.Path != "":
			t.Errorf("%s namespace joins %s", typ, n.Path)
		case typ == specs.NetworkNamespace && (strings.HasPrefix(n.Path, "/proc/1/") || strings.HasPrefix(n.Path, "/proc/self/")):
			t.Errorf("network namespace is the host's: %s", n.Path)
		}
	}
	// Privileged would mean: every capability (checked above), no masked
	// or read-only /proc paths, and every device allowed.
	if len(sp.Linux.MaskedPaths) == 0 || len(sp.Linux.ReadonlyPaths) == 0 {
		t.Errorf("masked paths %v, read-only paths %v: looks privileged", sp.Linux.MaskedPaths, sp.Linux.ReadonlyPaths)
	}
	if r := sp.Linux.Resources; r == nil || len(r.Devices) == 0 || r.Devices[0].Allow || r.Devices[0].Access != "rwm" {
		t.Errorf("device cgroup does not start with deny-all: %+v", sp.Linux.Resources)
	}
	allowed := []string{dataDir + "/"}
	for _, m := range mounts {
		pm, err := meta.ParseMount(m)
		if err != nil {
			t.Fatal(err)
		}
		allowed = append(allowed, pm.Source)
	}
	CheckSpecIsolation(t, sp)
	for _, m := range sp.Mounts {
		if m.Destination == "/sys" && m.Source == "/sys" && slices.Contains(m.Options, "rro") {
			continue // the read-only /sys a user namespace needs (runtime.withSysBind)
		}
		bind := m.Type == "bind"
		for _, o := range m.Options {
			bind = bind || o == "bind" || o == "rbind"
		}
		if !bind {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || m.Source == a || strings.HasPrefix(m.Source, a)
		}
		if !ok {
			t.Errorf("bind mount of the host's %s at %s: neither occ's data nor a configured mount", m.Source, m.Destination)
		}
	}
}

// CheckTaskIsolation looks at the running container's init process on the
// host: its namespaces differ from the host's, its capability sets are
// exactly WantCaps and no_new_privs is set.
func CheckTaskIsolation(t testing.TB, pid uint32, hostNet bool) {
	t.Helper()
	for _, n := range []string{"pid", "ipc", "uts", "mnt", "net", "user"} {
		mine, err1 := os.Readlink("/proc/self/ns/" + n)
		theirs, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, n))
		if err1 != nil || err2 != nil {
			t.Fatalf("namespaces: %v %v", err1, err2)
		}
		if shared := mine == theirs; shared != (hostNet && n == "net") {
			t.Errorf("%s namespace: container %s, host %s", n, theirs, mine)
		}
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%016x", capMask())
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "CapBnd", "CapEff", "CapPrm":
			if v != want {
				t.Errorf("%s %s, want %s", k, v, want)
			}
		case "CapInh", "CapAmb":
			if v != "0000000000000000" {
				t.Errorf("%s %s, want none", k, v)
			}
		case "NoNewPrivs":
			if v != "1" {
				t.Errorf("NoNewPrivs %s", v)
			}
		case "Seccomp":
			if v != "2" {
				t.Errorf("Seccomp %s, want 2 (a filter)", v)
			}
		case "Uid", "Gid":
			// The container's root is a host id of the unprivileged range.
			for _, id := range strings.Fields(v) {
				if n, err := strconv.ParseUint(id, 10, 32); err != nil || n < meta.UserNSSize {
					t.Errorf("%s %s on the host: the sandbox's root is a host id below %d", k, v, meta.UserNSSize)
					break
				}
			}
		}
	}
}

// SecretNowhere fails when secret (or its base64 forms) appears in any
// of texts or in any file under dirs.
func SecretNowhere(t testing.TB, secret string, texts map[string]string, dirs ...string) {
	t.Helper()
	forms := []string{secret, base64.StdEncoding.EncodeToString([]byte(secret))}
	for what, s := range texts {
		for _, f := range forms {
			if strings.Contains(s, f) {
				t.Errorf("the secret appears in %s", what)
			}
		}
	}
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			for _, f := range forms {
				if bytes.Contains(data, []byte(f)) {
					t.Errorf("the secret appears in %s", p)
				}
			}
			return nil
		})
	}
}

// CheckSpecIsolation asserts the isolation occ adds by default: a seccomp
// filter that refuses what it does not list, a user namespace mapping the
// container's 0-65535 to unprivileged host ids, and pids, memory and CPU
// limits.
func CheckSpecIsolation(t testing.TB, sp *oci.Spec) {
	t.Helper()
	l := sp.Linux
	if l.Seccomp == nil || len(l.Seccomp.Syscalls) == 0 || l.Seccomp.DefaultAction == specs.ActAllow {
		t.Errorf("no seccomp filter (or one that allows by default): %+v", l.Seccomp)
	}
	userns := false
	for _, n := range l.Namespaces {
		userns = userns || (n.Type == specs.UserNamespace && n.Path == "")
	}
	if !userns {
		t.Error("no user namespace: the sandbox's root is the host's root")
	}
	for what, maps := range map[string][]specs.LinuxIDMapping{"uid": l.UIDMappings, "gid": l.GIDMappings} {
		if len(maps) != 1 || maps[0].ContainerID != 0 || maps[0].Size != meta.UserNSSize || maps[0].HostID < meta.UserNSSize {
			t.Errorf("%s mappings %+v, want container 0-65535 on host ids above 65535", what, maps)
		}
	}
	r := l.Resources
	switch {
	case r == nil:
		t.Error("no resource limits")
	case r.Pids == nil || r.Pids.Limit == nil || *r.Pids.Limit <= 0:
		t.Errorf("no pids limit: %+v", r.Pids)
	case r.Memory == nil || r.Memory.Limit == nil || *r.Memory.Limit <= 0:
		t.Errorf("no memory limit: %+v", r.Memory)
	case r.CPU == nil || r.CPU.Quota == nil || *r.CPU.Quota <= 0:
		t.Errorf("no CPU limit: %+v", r.CPU)
	}
}

// HostUserCannotReach runs, as the host's uid/gid 1000 (the first login
// user on most machines, and the sandbox's opencoder without a user
// namespace), what another host user would try against the sandbox
// process pid: read its environment (the secrets occ and the gateway hand
// it), its command line's neighbours in /proc/PID/root, its memory maps.
// Each must be refused.
func HostUserCannotReach(t testing.TB, pid int) {
	t.Helper()
	for _, path := range []string{
		fmt.Sprintf("/proc/%d/environ", pid),
		fmt.Sprintf("/proc/%d/root/etc/passwd", pid),
		fmt.Sprintf("/proc/%d/maps", pid),
		fmt.Sprintf("/proc/%d/cwd/", pid),
	} {
		cmd := exec.Command("cat", path)
		if strings.HasSuffix(path, "/") {
			cmd = exec.Command("ls", path)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}}
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("host uid 1000 read %s (%d bytes): another host user reaches the sandbox", path, len(out))
		} else if !strings.Contains(string(out), "ermission denied") {
			t.Errorf("host uid 1000 reading %s: %v %s (want permission denied)", path, err, out)
		}
	}
}

// CheckTaskLimits reads, on the host, the cgroup files the kernel enforces
// for process pid (cgroup v1 or v2) and asserts the pids, memory and CPU
// limits of the spec are in force there.
func CheckTaskLimits(t testing.TB, pid uint32, sp *oci.Spec) {
	t.Helper()
	r := sp.Linux.Resources
	if r == nil || r.Pids == nil || r.Pids.Limit == nil || r.Memory == nil || r.Memory.Limit == nil || r.CPU == nil || r.CPU.Quota == nil {
		t.Fatalf("the spec has no limits to check: %+v", r)
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{} // controller -> path; "" for v2
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			paths[c] = parts[2]
		}
	}
	read := func(v1ctl, v1file, v2file string) string {
		var p string
		if cp, ok := paths[v1ctl]; ok {
			p = filepath.Join("/sys/fs/cgroup", v1ctl, cp, v1file)
		} else {
			p = filepath.Join("/sys/fs/cgroup", paths[""], v2file)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("read %s: %v", p, err)
		}
		return strings.TrimSpace(string(b))
	}
	if got, want := read("pids", "pids.max", "pids.max"), strconv.FormatInt(*r.Pids.Limit, 10); got != want {
		t.Errorf("pids.max %s, want %s", got, want)
	}
	if got, want := read("memory", "memory.limit_in_bytes", "memory.max"), strconv.FormatInt(*r.Memory.Limit, 10); got != want {
		t.Errorf("memory limit %s, want %s", got, want)
	}
	cpu := read("cpu", "cpu.cfs_quota_us", "cpu.max")
	if f := strings.Fields(cpu); len(f) == 0 || f[0] != strconv.FormatInt(*r.CPU.Quota, 10) {
		t.Errorf("CPU quota %q, want %d", cpu, *r.CPU.Quota)
	}
}
