package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	gocni "github.com/containerd/go-cni"
	"github.com/containerd/log"
	rkclient "github.com/rootless-containers/rootlesskit/v2/pkg/api/client"
	"github.com/rootless-containers/rootlesskit/v2/pkg/port"
)

// Rootless containerd (docs/rootless.md): containerd runs as an
// unprivileged user inside rootlesskit's user, mount and network
// namespaces (hack/containerd-rootless, after nerdctl's
// containerd-rootless.sh). occ, run by that user, re-executes itself in
// those namespaces (as nerdctl does, with nsenter), so that its CNI
// network, netns files and mounts are where containerd's are; the
// published port reaches the host through rootlesskit's port driver.

// Environment occ sets when it re-executes itself in rootlesskit's
// namespaces; ROOTLESSKIT_STATE_DIR is rootlesskit's own name for it.
const (
	envRootlessChild = "_OCC_ROOTLESS_CHILD"
	envStateDir      = "ROOTLESSKIT_STATE_DIR"
	// EnvRootlessStateDir names the rootlesskit state dir when it is not
	// the default, $XDG_RUNTIME_DIR/containerd-rootless.
	EnvRootlessStateDir = "OCC_ROOTLESSKIT_STATE_DIR"
)

// Rootless is a rootless containerd's rootlesskit, as occ finds it.
type Rootless struct {
	StateDir string // rootlesskit's --state-dir: child_pid, api.sock
	ChildPID int    // the process whose namespaces containerd runs in
}

// RootlessStateDir is where occ looks for rootlesskit's state: the
// variable, else $XDG_RUNTIME_DIR/containerd-rootless (nerdctl's and
// hack/containerd-rootless's default); "" when neither is set.
func RootlessStateDir() string {
	if d := os.Getenv(EnvRootlessStateDir); d != "" {
		return d
	}
	if d := os.Getenv(envStateDir); d != "" {
		return d
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "containerd-rootless")
	}
	return ""
}

// DetectRootless finds a rootless containerd this user runs: nil when occ
// runs as root (outside a user namespace) or no rootlesskit answers.
func DetectRootless() *Rootless {
	if InRootlessChild() {
		return &Rootless{StateDir: os.Getenv(envStateDir)}
	}
	if os.Geteuid() == 0 {
		return nil
	}
	dir := RootlessStateDir()
	if dir == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "child_pid"))
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) != nil {
		return nil // a stale state dir: rootlesskit is gone
	}
	return &Rootless{StateDir: dir, ChildPID: pid}
}

// InRootlessChild reports whether this occ was re-executed in
// rootlesskit's namespaces.
func InRootlessChild() bool { return os.Getenv(envRootlessChild) == "1" }

// Reexec replaces this process with occ (exe) inside rootlesskit's user,
// mount and network namespaces: nsenter, since a Go program cannot enter a
// user namespace once its threads run.
func (r *Rootless) Reexec(exe string, args []string) error {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return fmt.Errorf("rootless containerd: nsenter (util-linux) is needed to enter rootlesskit's namespaces: %w", err)
	}
	argv := append([]string{"nsenter", "-U", "--preserve-credentials", "-m", "-n", "-t", strconv.Itoa(r.ChildPID), "--", exe}, args...)
	env := append(os.Environ(), envRootlessChild+"=1", envStateDir+"="+r.StateDir)
	if err := syscall.Exec(nsenter, argv, env); err != nil {
		return fmt.Errorf("rootless containerd: entering rootlesskit's namespaces (pid %d): %w", r.ChildPID, err)
	}
	return nil
}

func (r *Rootless) ports() (port.Manager, error) {
	c, err := rkclient.New(filepath.Join(r.StateDir, "api.sock"))
	if err != nil {
		return nil, fmt.Errorf("rootlesskit API at %s: %w", r.StateDir, err)
	}
	return c.PortManager(), nil
}

// forwardPorts has rootlesskit's port driver forward each published port
// from the host to the container's address on occ's bridge (inside
// rootlesskit's network namespace, where CNI's portmap cannot reach the
// host). A port already forwarded to the same place is kept.
func (r *Rootless) forwardPorts(ctx context.Context, ports []gocni.PortMapping, containerIPs []string) error {
	childIP := ""
	for _, ip := range containerIPs {
		if p := net.ParseIP(ip); p != nil && p.To4() != nil {
			childIP = ip
			break
		}
	}
	if childIP == "" {
		return fmt.Errorf("rootless containerd: the sandbox has no IPv4 address on occ's bridge to forward its port to")
	}
	pm, err := r.ports()
	if err != nil {
		return err
	}
	have, err := pm.ListPorts(ctx)
	if err != nil {
		return fmt.Errorf("rootlesskit: list forwarded ports: %w", err)
	}
	for _, p := range ports {
		spec := port.Spec{Proto: "tcp", ParentIP: p.HostIP, ParentPort: int(p.HostPort), ChildIP: childIP, ChildPort: int(p.ContainerPort)}
		if spec.ParentIP == "0.0.0.0" {
			spec.ParentIP = ""
		}
		found := false
		for _, h := range have {
			if h.Spec.ParentPort == spec.ParentPort && h.Spec.ParentIP == spec.ParentIP {
				if h.Spec == spec {
					found = true
					break
				}
				// Forwarded to an earlier address of the sandbox: replace it.
				if err := pm.RemovePort(ctx, h.ID); err != nil {
					return fmt.Errorf("rootlesskit: remove stale forward of port %d: %w", h.Spec.ParentPort, err)
				}
			}
		}
		if found {
			continue
		}
		if _, err := pm.AddPort(ctx, spec); err != nil {
			return fmt.Errorf("rootlesskit: forward %s:%d to the sandbox (%s:%d): %w; is the port free on the host? (occ config set opencode_web_port N)",
				p.HostIP, p.HostPort, childIP, p.ContainerPort, err)
		}
		log.G(ctx).Debugf("rootlesskit forwards %s:%d to %s:%d", p.HostIP, p.HostPort, childIP, p.ContainerPort)
	}
	return nil
}

// unforwardPorts removes rootlesskit's forwards of the published ports.
func (r *Rootless) unforwardPorts(ctx context.Context, ports []gocni.PortMapping) error {
	pm, err := r.ports()
	if err != nil {
		return err
	}
	have, err := pm.ListPorts(ctx)
	if err != nil {
		return fmt.Errorf("rootlesskit: list forwarded ports: %w", err)
	}
	var errs []error
	for _, p := range ports {
		for _, h := range have {
			if h.Spec.ParentPort == int(p.HostPort) {
				if err := pm.RemovePort(ctx, h.ID); err != nil {
					errs = append(errs, fmt.Errorf("rootlesskit: remove the forward of port %d: %w", p.HostPort, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// rootlessChild is the rootlesskit occ runs under, when it does.
func rootlessChild() *Rootless {
	if !InRootlessChild() {
		return nil
	}
	return &Rootless{StateDir: os.Getenv(envStateDir)}
}

// RootlessCgroups says whether the user's cgroup has the controllers occ's
// limits need delegated to it (cgroup v2, systemd's Delegate=): without
// them rootless runc cannot apply pids, memory or CPU limits, and occ runs
// the sandbox without (and without a cgroup path of its own), as rootless
// Docker and nerdctl do. why says what is missing.
func RootlessCgroups() (ok bool, why string) {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		return false, "the host runs cgroup v1 (or hybrid): cgroups cannot be delegated to a user"
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return false, fmt.Sprintf("reading /proc/self/cgroup: %v", err)
	}
	var path string
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			path = p
		}
	}
	if path == "" {
		return false, "no cgroup v2 path in /proc/self/cgroup"
	}
	// The user's delegated subtree is the parent of the session's cgroup
	// (user@UID.service); occ needs to create cgroups in it.
	dir := filepath.Join("/sys/fs/cgroup", filepath.Dir(path))
	if syscall.Access(dir, 2 /* W_OK */) != nil {
		return false, fmt.Sprintf("%s is not writable by this user (not delegated)", dir)
	}
	ctrl, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return false, fmt.Sprintf("reading %s/cgroup.controllers: %v", dir, err)
	}
	have := strings.Fields(string(ctrl))
	var missing []string
	for _, c := range []string{"cpu", "memory", "pids"} {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return false, fmt.Sprintf("controllers %s are not delegated to %s", strings.Join(missing, ", "), dir)
	}
	return true, ""
}

// rootlessNoCgroups: occ runs under rootless containerd without delegated
// cgroups, so the sandbox gets no limits and no cgroup path.
func rootlessNoCgroups() bool {
	if !InRootlessChild() {
		return false
	}
	ok, _ := RootlessCgroups()
	return !ok
}

// RootlessCheck is one line of occ doctor about rootless mode: Status is
// "ok", "warn" (works, with less) or "fail" (will not work), Fix what to
// do when it is not ok.
type RootlessCheck struct {
	Name, Status, Detail, Fix string
}

// hostUID is this user's uid on the host: in rootlesskit's user namespace
// getuid says 0, and uid_map says whose it is outside.
func hostUID() int {
	uid := os.Getuid()
	if !InRootlessChild() {
		return uid
	}
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return uid
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == strconv.Itoa(uid) {
			if h, err := strconv.Atoi(f[1]); err == nil {
				return h
			}
		}
	}
	return uid
}

// RootlessChecks are occ doctor's rootless lines: none for root (outside a
// user namespace); else whether a rootless containerd runs for this user
// and each prerequisite of one (hack/containerd-rootless, docs/rootless.md):
// subordinate ids, newuidmap/newgidmap, rootlesskit, slirp4netns or pasta
// with /dev/net/tun, and cgroup delegation, each with its fix.
func RootlessChecks() []RootlessCheck {
	if os.Geteuid() == 0 && !InRootlessChild() {
		return nil
	}
	uid := hostUID()
	name := strconv.Itoa(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	out := []RootlessCheck{rootlessModeCheck(name, uid)}
	out = append(out, subIDChecks(name, uid)...)
	return append(out, idmapCheck(), rootlesskitCheck(), rootlessNetworkCheck(), rootlessCgroupCheck())
}

// rootlessModeCheck: does a rootless containerd run for this user?
func rootlessModeCheck(name string, uid int) RootlessCheck {
	mode := RootlessCheck{Name: "rootless mode"}
	if rk := DetectRootless(); rk != nil {
		mode.Status = "ok"
		mode.Detail = fmt.Sprintf("user %s (uid %d); containerd runs under rootlesskit (state %s); occ runs in its namespaces", name, uid, rk.StateDir)
		return mode
	}
	mode.Status = "warn"
	mode.Detail = fmt.Sprintf("not root (user %s, uid %d), and no rootlesskit state in %q: occ needs a containerd this user may use", name, uid, RootlessStateDir())
	mode.Fix = "start rootless containerd (hack/containerd-rootless, docs/rootless.md; its state dir is $XDG_RUNTIME_DIR/containerd-rootless or $" +
		EnvRootlessStateDir + "), then occ config set containerd_address $XDG_RUNTIME_DIR/containerd/containerd.sock; or run occ as root"
	return mode
}

// subIDChecks: the user's subordinate uid and gid ranges.
func subIDChecks(name string, uid int) []RootlessCheck {
	var out []RootlessCheck
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		c := RootlessCheck{Name: "rootless " + filepath.Base(f)}
		if n := subIDCount(f, name, uid); n >= 65536 {
			c.Status, c.Detail = "ok", fmt.Sprintf("%d subordinate ids for %s", n, name)
		} else {
			c.Status = "fail"
			c.Detail = fmt.Sprintf("%s gives %s %d subordinate ids; rootlesskit needs 65536", f, name, n)
			c.Fix = fmt.Sprintf("sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s (a range no other user has)", name)
		}
		out = append(out, c)
	}
	return out
}

// idmapCheck: newuidmap and newgidmap, setuid root.
func idmapCheck() RootlessCheck {
	idmap := RootlessCheck{Name: "rootless newuidmap", Status: "ok"}
	var bad []string
	for _, b := range []string{"newuidmap", "newgidmap"} {
		p, err := exec.LookPath(b)
		if err != nil {
			bad = append(bad, b+" is missing")
			continue
		}
		if st, err := os.Stat(p); err != nil || st.Mode()&os.ModeSetuid == 0 {
			bad = append(bad, p+" is not setuid root")
			continue
		}
		idmap.Detail = strings.TrimSpace(idmap.Detail + " " + p)
	}
	if len(bad) > 0 {
		idmap.Status, idmap.Detail = "fail", strings.Join(bad, "; ")
		idmap.Fix = "sudo apt-get install uidmap (shadow's newuidmap/newgidmap, setuid root)"
	}
	return idmap
}

// rootlesskitCheck: rootlesskit on PATH.
func rootlesskitCheck() RootlessCheck {
	kit := RootlessCheck{Name: "rootless rootlesskit", Status: "ok"}
	if p, err := exec.LookPath("rootlesskit"); err != nil {
		kit.Status, kit.Detail, kit.Fix = "fail", "rootlesskit is not on PATH", "sudo apt-get install rootlesskit"
	} else {
		kit.Detail = p
	}
	return kit
}

// rootlessNetworkCheck: slirp4netns or pasta, and a usable /dev/net/tun.
func rootlessNetworkCheck() RootlessCheck {
	net := RootlessCheck{Name: "rootless network", Status: "ok"}
	var drivers []string
	for _, b := range []string{"slirp4netns", "pasta"} {
		if p, err := exec.LookPath(b); err == nil {
			drivers = append(drivers, p)
		}
	}
	switch {
	case len(drivers) == 0:
		net.Status, net.Detail = "fail", "neither slirp4netns nor pasta is on PATH: rootlesskit cannot give containerd a network namespace"
		net.Fix = "sudo apt-get install slirp4netns (or passt for pasta)"
	case syscall.Access("/dev/net/tun", 6 /* R_OK|W_OK */) != nil:
		net.Status, net.Detail = "fail", strings.Join(drivers, ", ")+" found, but /dev/net/tun is not readable and writable by this user"
		net.Fix = "sudo chmod 0666 /dev/net/tun (the usual mode; a udev rule KERNEL==\"tun\", MODE=\"0666\" keeps it)"
	default:
		net.Detail = strings.Join(drivers, ", ") + "; /dev/net/tun usable"
	}
	return net
}

// rootlessCgroupCheck: the controllers the sandbox's limits need, delegated.
func rootlessCgroupCheck() RootlessCheck {
	cg := RootlessCheck{Name: "rootless cgroups", Status: "ok", Detail: "cpu, memory and pids delegated: the sandbox's limits apply"}
	if ok, why := RootlessCgroups(); !ok {
		cg.Status = "warn"
		cg.Detail = why + ": the sandbox runs without pids, memory and CPU limits"
		cg.Fix = "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) and delegate the controllers: " +
			"/etc/systemd/system/user@.service.d/delegate.conf with [Service] Delegate=cpu cpuset io memory pids, then systemctl daemon-reload and log in again"
	}
	return cg
}

// subIDCount is how many subordinate ids f (/etc/subuid, /etc/subgid)
// gives the user, by name or uid.
func subIDCount(f, name string, uid int) int {
	b, err := os.ReadFile(f)
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		p := strings.Split(strings.TrimSpace(l), ":")
		if len(p) != 3 || (p[0] != name && p[0] != strconv.Itoa(uid)) {
			continue
		}
		if c, err := strconv.Atoi(p[2]); err == nil {
			n += c
		}
	}
	return n
}
