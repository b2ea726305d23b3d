package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// fakeHost sets what ResolveIsolation reads from the host.
func fakeHost(t *testing.T, mem int64, cpus int, apparmor bool, idFiles ...string) {
	saved := hostFacts
	t.Cleanup(func() { hostFacts = saved })
	hostFacts.memory = func() int64 { return mem }
	hostFacts.cpus = func() int { return cpus }
	hostFacts.apparmor = func() bool { return apparmor }
	hostFacts.idFiles = idFiles
}

func TestResolveIsolation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		apparmor bool
		mutate   func(*meta.Config)
		want     Isolation
		lines    map[string]string
	}{
		{name: "defaults, no AppArmor on the host", want: Isolation{Seccomp: true, UserNS: true, UserNSBase: meta.DefaultUserNSBase,
			PidsLimit: meta.DefaultPidsLimit, MemoryBytes: 6 << 30, CPUs: 1.5},
			lines: map[string]string{"AppArmor": "not available", "Seccomp": "containerd default profile", "Pids": "4096", "Memory": "6 GiB", "CPUs": "1.5",
				"User ns": "host 1000000000-1000065535"}},
		{name: "defaults with AppArmor", apparmor: true, want: Isolation{Seccomp: true, AppArmor: AppArmorProfile, AppArmorHost: true, UserNS: true,
			UserNSBase: meta.DefaultUserNSBase, PidsLimit: meta.DefaultPidsLimit, MemoryBytes: 6 << 30, CPUs: 1.5},
			lines: map[string]string{"AppArmor": "profile occ-default"}},
		{name: "all off", apparmor: true, mutate: func(c *meta.Config) {
			c.Seccomp, c.AppArmor, c.UserNS, c.PidsLimit, c.MemoryLimit, c.CPULimit = false, false, false, 0, "none", "none"
		}, want: Isolation{AppArmorHost: true},
			lines: map[string]string{"Seccomp": "off", "AppArmor": "off", "User ns": "off", "Pids": "none", "Memory": "none", "CPUs": "none"}},
		{name: "explicit limits", mutate: func(c *meta.Config) {
			c.PidsLimit, c.MemoryLimit, c.CPULimit, c.UserNSBase = 512, "1536m", "0.5", 200000
		},
			want:  Isolation{Seccomp: true, UserNS: true, UserNSBase: 200000, PidsLimit: 512, MemoryBytes: 1536 << 20, CPUs: 0.5},
			lines: map[string]string{"Memory": "1536 MiB", "CPUs": "0.5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeHost(t, 8<<30, 2, tc.apparmor)
			cfg := meta.DefaultConfig()
			if tc.mutate != nil {
				tc.mutate(cfg)
			}
			got, err := ResolveIsolation(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
			lines := map[string]string{}
			for _, l := range got.Describe() {
				lines[l[0]] = l[1]
			}
			for k, want := range tc.lines {
				if !strings.Contains(lines[k], want) {
					t.Errorf("%s: %q, want %q", k, lines[k], want)
				}
			}
		})
	}
	fakeHost(t, 8<<30, 2, false)
	cfg := meta.DefaultConfig()
	cfg.MemoryLimit = "lots"
	if _, err := ResolveIsolation(cfg); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "occ config set memory_limit") {
		t.Errorf("bad memory_limit: %v", err)
	}
}

// TestIsolationSpec: the options put seccomp, the user namespace, the
// limits and the read-only /sys bind into the spec, and take them out
// when off.
func TestIsolationSpec(t *testing.T) {
	ctx := namespaces.WithNamespace(context.Background(), "test")
	gen := func(iso Isolation) *oci.Spec {
		var sp oci.Spec
		opts := append([]oci.SpecOpts{oci.WithDefaultSpec(), oci.WithCapabilities(SandboxCapabilities)}, iso.specOpts()...)
		if err := oci.ApplyOpts(ctx, nil, &containers.Container{ID: "x"}, &sp, opts...); err != nil {
			t.Fatal(err)
		}
		return &sp
	}
	on := Isolation{Seccomp: true, UserNS: true, UserNSBase: 1 << 20, PidsLimit: 100, MemoryBytes: 1 << 30, CPUs: 1.5}
	sp := gen(on)
	if sp.Linux.Seccomp == nil || sp.Linux.Seccomp.DefaultAction != specs.ActErrno {
		t.Errorf("seccomp: %+v", sp.Linux.Seccomp)
	}
	for _, sc := range sp.Linux.Seccomp.Syscalls {
		for _, n := range sc.Names {
			if (n == "mount" || n == "unshare" || n == "keyctl" || n == "open_by_handle_at") && sc.Action == specs.ActAllow {
				t.Errorf("the profile allows %s with the sandbox's capabilities", n)
			}
		}
	}
	if got := sp.Linux.UIDMappings; len(got) != 1 || got[0] != (specs.LinuxIDMapping{ContainerID: 0, HostID: 1 << 20, Size: 65536}) {
		t.Errorf("uid mappings %+v", got)
	}
	r := sp.Linux.Resources
	if *r.Pids.Limit != 100 || *r.Memory.Limit != 1<<30 || *r.CPU.Quota != 150000 || *r.CPU.Period != 100000 {
		t.Errorf("limits: pids %v memory %v cpu %v/%v", *r.Pids.Limit, *r.Memory.Limit, *r.CPU.Quota, *r.CPU.Period)
	}
	for _, m := range sp.Mounts {
		if m.Destination == "/sys" && (m.Type != "bind" || !strings.Contains(strings.Join(m.Options, ","), "rro")) {
			t.Errorf("/sys with a user namespace: %+v", m)
		}
	}
	back := IsolationOfSpec(sp, map[string]string{LabelContainerRootfs: "idmapped"})
	on.Rootfs = "idmapped"
	if back != on {
		t.Errorf("read back from the spec: %+v, want %+v", back, on)
	}

	sp = gen(Isolation{})
	if sp.Linux.Seccomp != nil || len(sp.Linux.UIDMappings) != 0 {
		t.Errorf("isolation off: seccomp %v, mappings %v", sp.Linux.Seccomp, sp.Linux.UIDMappings)
	}
	for _, m := range sp.Mounts {
		if m.Destination == "/sys" && m.Type != "sysfs" {
			t.Errorf("/sys without a user namespace: %+v", m)
		}
	}
}

func TestCheckUserNSRange(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	passwd := write("passwd", "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nodd:x:1000065535:1::/:/bin/false\n")
	group := write("group", "root:x:0:\n# comment\n\nbig:x:1000000500:\n")
	subuid := write("subuid", "alice:100000:65536\nbob:999990000:20000\n")
	subgid := write("subgid", "alice:100000:65536\n")
	fakeHost(t, 1<<30, 1, false, passwd, group, subuid, subgid, filepath.Join(dir, "missing"))
	for _, tc := range []struct {
		base  uint32
		clash []string
	}{
		{base: 2000000000},
		{base: 100000, clash: []string{"subuid: alice has 100000-165535", "subgid: alice has 100000-165535"}},
		{base: 165536},
		{base: 1000000000, clash: []string{"odd is 1000065535", "big is 1000000500", "bob has 999990000-1000009999"}},
	} {
		err := Isolation{UserNS: true, UserNSBase: tc.base}.CheckUserNSRange()
		if (err != nil) != (len(tc.clash) > 0) {
			t.Errorf("base %d: %v", tc.base, err)
			continue
		}
		if err == nil {
			continue
		}
		if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "occ config set userns_base") {
			t.Errorf("base %d: %v", tc.base, err)
		}
		for _, c := range tc.clash {
			if !strings.Contains(err.Error(), c) {
				t.Errorf("base %d: %v lacks %q", tc.base, err, c)
			}
		}
	}
	if err := (Isolation{UserNSBase: 100000}).CheckUserNSRange(); err != nil {
		t.Errorf("no user namespace, no check: %v", err)
	}
}

func owner(t *testing.T, p string) (int, int) {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Sys().(*syscall.Stat_t)
	return int(s.Uid), int(s.Gid)
}

// TestShiftOwner: a volume made without a user namespace moves into the
// range (ids inside 0-65535 shifted, others kept, setuid bits kept), to
// another base, and back.
func TestShiftOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	dir := filepath.Join(t.TempDir(), "vol")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "sub", "f"), []byte("x"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "suid"), []byte("x"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "foreign"), []byte("x"), 0o644))
	must(os.Symlink("/etc/passwd", filepath.Join(dir, "link")))
	for _, p := range []string{dir, filepath.Join(dir, "sub"), filepath.Join(dir, "sub", "f"), filepath.Join(dir, "suid")} {
		must(os.Lchown(p, 1000, 1000))
	}
	must(os.Chmod(filepath.Join(dir, "suid"), 0o755|os.ModeSetuid)) // after the chown, which clears it
	must(os.Lchown(filepath.Join(dir, "foreign"), 70000, 70000))
	must(os.Lchown(filepath.Join(dir, "link"), 0, 0))

	const base = 1 << 20
	must(shiftOwner(dir, base+1000, base+1000, 1000, 1000))
	want := map[string][2]int{"": {base + 1000, base + 1000}, "sub": {base + 1000, base + 1000}, "sub/f": {base + 1000, base + 1000},
		"suid": {base + 1000, base + 1000}, "foreign": {70000, 70000}, "link": {base, base}}
	for p, w := range want {
		if u, g := owner(t, filepath.Join(dir, p)); u != w[0] || g != w[1] {
			t.Errorf("%s: %d:%d, want %d:%d", p, u, g, w[0], w[1])
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, "suid")); st.Mode()&os.ModeSetuid == 0 {
		t.Error("the setuid bit was lost")
	}
	if u, _ := owner(t, "/etc/passwd"); u != 0 {
		t.Fatal("the symlink's target was chowned")
	}
	must(shiftOwner(dir, 2*base+1000, 2*base+1000, 1000, 1000)) // another base
	if u, _ := owner(t, filepath.Join(dir, "sub", "f")); u != 2*base+1000 {
		t.Errorf("after a base change: %d", u)
	}
	must(shiftOwner(dir, 1000, 1000, 1000, 1000)) // user namespace off
	if u, _ := owner(t, filepath.Join(dir, "link")); u != 0 {
		t.Errorf("back without a user namespace: %d", u)
	}
	if u, _ := owner(t, filepath.Join(dir, "foreign")); u != 70000 {
		t.Errorf("an id outside the range moved: %d", u)
	}
}

func TestRuncVersion(t *testing.T) {
	for out, want := range map[string]string{
		"runc version 1.1.5+ds1\ncommit: x\n": "1.1.5", "runc version 1.5.3\nspec: 1.3.0\n": "1.5.3",
		"runc version 1.2.0-rc.1\n": "1.2.0", "crun version 1.8\n": "", "": "",
	} {
		if got := parseRuncVersion(out); got != want {
			t.Errorf("%q: %q, want %q", out, got, want)
		}
	}
	for _, tc := range []struct {
		v  string
		ok bool
	}{{"1.1.5", false}, {"1.2", true}, {"1.2.0", true}, {"1.10.0", true}, {"2.0.0", true}, {"1", false}, {"", false}, {"x.y", false}} {
		if got := versionAtLeast(tc.v, MinRuncUserNS); got != tc.ok {
			t.Errorf("%q >= %s: %v", tc.v, MinRuncUserNS, got)
		}
	}
	runcOnce.Do(func() {}) // freeze the search
	saved := runcOnce.found
	t.Cleanup(func() { runcOnce.found = saved })
	runcOnce.found = []Runc{{Path: "/usr/sbin/runc", Version: "1.1.5"}}
	_, err := Isolation{UserNS: true}.RuncFor()
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "/usr/sbin/runc is 1.1.5") || !strings.Contains(err.Error(), "occ config set userns false") {
		t.Errorf("old runc: %v", err)
	}
	if p, err := (Isolation{}).RuncFor(); p != "" || err != nil {
		t.Errorf("no user namespace: %q %v", p, err)
	}
	runcOnce.found = append(runcOnce.found, Runc{Path: "/usr/local/sbin/runc", Version: "1.5.3"})
	if p, err := (Isolation{UserNS: true}).RuncFor(); p != "/usr/local/sbin/runc" || err != nil {
		t.Errorf("a new runc after an old one: %q %v", p, err)
	}
}

func TestCgroupPath(t *testing.T) {
	for addr, want := range map[string]string{
		"/run/containerd/containerd.sock":  "/opencode-cloud/sb",
		"/run/containerd//containerd.sock": "/opencode-cloud/sb",
		"/tmp/tb-a/run/containerd.sock":    "/opencode-cloud-",
		"":                                 "/opencode-cloud/sb",
	} {
		s := &Sandbox{client: &Client{Namespace: "opencode-cloud", Address: addr}, name: "sb"}
		got := s.cgroupPath()
		if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "/sb") {
			t.Errorf("%q: %s, want %s…/sb", addr, got, want)
		}
	}
	a := &Sandbox{client: &Client{Namespace: "n", Address: "/tmp/a.sock"}, name: "x"}
	b := &Sandbox{client: &Client{Namespace: "n", Address: "/tmp/b.sock"}, name: "x"}
	if a.cgroupPath() == b.cgroupPath() {
		t.Errorf("two containerds share %s", a.cgroupPath())
	}
}
