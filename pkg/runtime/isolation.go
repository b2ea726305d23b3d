package runtime

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/apparmor"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	aa "github.com/containerd/containerd/v2/pkg/apparmor"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// AppArmorProfile is the name occ loads containerd's default AppArmor
// profile under (contrib/apparmor), on hosts that have AppArmor.
const AppArmorProfile = "occ-default"

// cpuPeriod is the CFS period the CPU quota is a share of (100 ms, the
// kernel's default).
const cpuPeriod = 100000

// Isolation is what the sandbox's spec enforces beyond namespaces,
// capabilities and no_new_privs: the config's isolation keys resolved on
// this host.
type Isolation struct {
	Seccomp bool `json:"seccomp"`
	// AppArmor is the profile name, empty when off or not available.
	AppArmor string `json:"apparmor,omitempty"`
	// AppArmorHost says whether the host has AppArmor at all.
	AppArmorHost bool `json:"apparmor_host"`
	// UserNS: the container's ids 0-65535 are host ids UserNSBase and up.
	UserNS     bool   `json:"userns"`
	UserNSBase uint32 `json:"userns_base,omitempty"`
	// Rootfs is how the root file system was made for the user namespace:
	// "idmapped" (the image's layers through idmapped mounts, no copy) or
	// "chowned" (a copy chowned into the range); empty before a create.
	Rootfs      string  `json:"rootfs,omitempty"`
	PidsLimit   int64   `json:"pids_limit"`   // 0: none
	MemoryBytes int64   `json:"memory_bytes"` // 0: none
	CPUs        float64 `json:"cpus"`         // 0: none
}

// hostFacts are what auto limits and checks read from the host (a
// variable, for tests).
var hostFacts = struct {
	memory   func() int64
	cpus     func() int
	apparmor func() bool
	idFiles  []string // passwd, group, subuid, subgid
}{
	memory: func() int64 {
		var si syscall.Sysinfo_t
		if err := syscall.Sysinfo(&si); err != nil {
			return 0
		}
		return int64(si.Totalram) * int64(si.Unit)
	},
	cpus:     goruntime.NumCPU,
	apparmor: aa.HostSupports,
	idFiles:  []string{"/etc/passwd", "/etc/group", "/etc/subuid", "/etc/subgid"},
}

// ResolveIsolation turns the config's isolation keys into what the spec
// will enforce on this host (auto limits computed, AppArmor only where the
// host has it). It checks nothing on disk; CheckUserNSRange does.
func ResolveIsolation(cfg *meta.Config) (Isolation, error) {
	iso := Isolation{Seccomp: cfg.Seccomp, UserNS: cfg.UserNS, AppArmorHost: hostFacts.apparmor()}
	if cfg.AppArmor && iso.AppArmorHost {
		iso.AppArmor = AppArmorProfile
	}
	if iso.UserNS {
		if cfg.UserNSBase < meta.UserNSSize || cfg.UserNSBase > meta.MaxUserNSBase {
			return Isolation{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
				"userns_base %d is out of range; to fix, run: occ config set userns_base %d", cfg.UserNSBase, meta.DefaultUserNSBase))
		}
		iso.UserNSBase = uint32(cfg.UserNSBase)
	}
	iso.PidsLimit = int64(cfg.PidsLimit)
	mem, auto, err := meta.ParseMemoryLimit(cfg.MemoryLimit)
	if err != nil {
		return Isolation{}, errdefs.ErrInvalidArgument.WithMessage("memory_limit: " + err.Error() + "; to fix, run: occ config set memory_limit auto")
	}
	if auto {
		if host := hostFacts.memory(); host > 0 {
			mem = meta.AutoMemoryLimit(host)
		}
	}
	iso.MemoryBytes = mem
	cpus, auto, err := meta.ParseCPULimit(cfg.CPULimit)
	if err != nil {
		return Isolation{}, errdefs.ErrInvalidArgument.WithMessage("cpu_limit: " + err.Error() + "; to fix, run: occ config set cpu_limit auto")
	}
	if auto {
		cpus = meta.AutoCPULimit(hostFacts.cpus())
	}
	iso.CPUs = cpus
	if rootlessNoCgroups() {
		// Rootless runc cannot apply limits without delegated cgroups
		// (occ doctor says how to get them): none, rather than no start.
		iso.PidsLimit, iso.MemoryBytes, iso.CPUs = 0, 0, 0
	}
	return iso, nil
}

// mapping is the sandbox's id mapping, for uids and gids alike.
func (iso Isolation) mapping() []specs.LinuxIDMapping {
	return []specs.LinuxIDMapping{{ContainerID: 0, HostID: iso.UserNSBase, Size: meta.UserNSSize}}
}

// HostID is the host id of container id id: itself without a user
// namespace.
func (iso Isolation) HostID(id int) int {
	if !iso.UserNS {
		return id
	}
	return int(iso.UserNSBase) + id
}

// specOpts are the isolation's spec options. They run after the
// capabilities are set: the seccomp profile allows what the capabilities
// need (and nothing of CAP_SYS_ADMIN's, which the sandbox lacks).
func (iso Isolation) specOpts() []oci.SpecOpts {
	var opts []oci.SpecOpts
	if iso.Seccomp {
		opts = append(opts, seccomp.WithDefaultProfile())
	} else {
		opts = append(opts, oci.WithSeccompUnconfined)
	}
	if iso.AppArmor != "" {
		opts = append(opts, apparmor.WithDefaultProfile(iso.AppArmor))
	}
	if iso.UserNS {
		opts = append(opts, oci.WithUserNamespace(iso.mapping(), iso.mapping()), withSysBind)
	}
	if iso.PidsLimit > 0 {
		opts = append(opts, oci.WithPidsLimit(iso.PidsLimit))
	}
	if iso.MemoryBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(iso.MemoryBytes)))
	}
	if iso.CPUs > 0 {
		opts = append(opts, oci.WithCPUCFS(int64(math.Round(iso.CPUs*cpuPeriod)), cpuPeriod))
	}
	return opts
}

// withSysBind replaces the sysfs mount at /sys with a recursive read-only
// bind of the host's /sys: mounting sysfs needs CAP_SYS_ADMIN over the
// network namespace, which the host (CNI, or host networking) owns, not
// the sandbox's user namespace. Rootless Docker and podman do the same.
// The masked paths (/sys/firmware, …) still apply, and nothing under it
// is writable: read-only, and owned by ids the sandbox does not map.
func withSysBind(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
	for i, m := range sp.Mounts {
		if m.Destination == "/sys" && m.Type == "sysfs" {
			sp.Mounts[i] = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys",
				Options: []string{"rbind", "rro", "nosuid", "noexec", "nodev"}}
		}
	}
	return nil
}

// snapshotOpt is how the container's root file system is made: with a user
// namespace, the image's layers through idmapped mounts where the
// snapshotter can (containerd ≥ 2.0 overlayfs on a kernel with idmapped
// overlay layers: nothing copied), else a copy of the image chowned into
// the range (containerd 1.6/1.7, or a kernel without idmapped mounts:
// costs a copy of the image's files, once per image).
func (iso *Isolation) snapshotOpt(ctx context.Context, c *Client, snapshotter, key string, image containerd.Image) containerd.NewContainerOpts {
	if !iso.UserNS {
		return containerd.WithNewSnapshot(key, image)
	}
	caps, err := c.ctr.GetSnapshotterCapabilities(ctx, snapshotter)
	if err == nil && slices.Contains(caps, "remap-ids") {
		iso.Rootfs = "idmapped"
		return containerd.WithNewSnapshot(key, image, containerd.WithUserNSRemapperLabels(iso.mapping(), iso.mapping()))
	}
	iso.Rootfs = "chowned"
	return containerd.WithUserNSRemappedSnapshot(key, image, iso.mapping(), iso.mapping())
}

// CheckUserNSRange refuses a user namespace range that a host user or
// group, or a subordinate id range (/etc/subuid, /etc/subgid: rootless
// containers' ids), already uses: sharing ids with them would let that
// user reach the sandbox's files and processes, or the sandbox theirs.
func (iso Isolation) CheckUserNSRange() error {
	if !iso.UserNS {
		return nil
	}
	if InRootlessChild() {
		// Rootless containerd has only the user's own uid and its subuid
		// range to give: no room for the sandbox's 65536 ids at userns_base.
		return errdefs.ErrFailedPrecondition.WithMessage(
			"rootless containerd runs in a user namespace of its own (the sandbox's root is your user on the host), with no room for occ's: " +
				"occ config set userns false")
	}
	lo, hi := uint64(iso.UserNSBase), uint64(iso.UserNSBase)+meta.UserNSSize
	var clashes []string
	for _, f := range hostFacts.idFiles {
		clashes = append(clashes, idClashes(f, lo, hi)...)
	}
	if len(clashes) == 0 {
		return nil
	}
	if len(clashes) > 3 {
		clashes = append(clashes[:3], fmt.Sprintf("and %d more", len(clashes)-3))
	}
	return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
		"the sandbox's user namespace would use host ids %d-%d, which the host already uses (%s); "+
			"choose a free range: occ config set userns_base N (N >= 65536, N+65535 free), then occ restart",
		lo, hi-1, strings.Join(clashes, "; ")))
}

// idClashes lists the entries of a passwd/group file (name:x:id:…) whose id
// lies in [lo, hi), and of a subuid/subgid file (name:start:count) whose
// range overlaps it. A missing file has none.
func idClashes(path string, lo, hi uint64) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	sub := strings.HasPrefix(filepath.Base(path), "sub")
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ":")
		if sub {
			if len(fields) < 3 {
				continue
			}
			start, err1 := strconv.ParseUint(fields[1], 10, 64)
			count, err2 := strconv.ParseUint(fields[2], 10, 64)
			if err1 == nil && err2 == nil && start < hi && start+count > lo {
				out = append(out, fmt.Sprintf("%s: %s has %d-%d", path, fields[0], start, start+count-1))
			}
			continue
		}
		if len(fields) < 3 {
			continue
		}
		if id, err := strconv.ParseUint(fields[2], 10, 64); err == nil && id >= lo && id < hi {
			out = append(out, fmt.Sprintf("%s: %s is %d", path, fields[0], id))
		}
	}
	return out
}

// shiftOwner moves the ownership of dir's tree into the id range the
// container uses: ids of the range the root directory is in now (the
// host's 0-65535, or an earlier userns_base) become the same ids of the
// new range; ids outside it are left alone. The root directory goes
// last, so an interrupted shift is redone by the next create. Used for
// volumes (their host directories are bind-mounted as they are: runc 1.1
// has no idmapped bind mounts).
func shiftOwner(dir string, wantUID, wantGID, uid, gid int) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	sys := st.Sys().(*syscall.Stat_t)
	if int(sys.Uid) == wantUID && int(sys.Gid) == wantGID {
		return nil
	}
	// The range the tree is in now, read from the root's owner.
	fromBase := int64(sys.Uid) - int64(uid)
	if fromBase < 0 {
		fromBase = 0
	}
	toBase := int64(wantUID) - int64(uid)
	shift := func(id uint32) int {
		if int64(id) >= fromBase && int64(id) < fromBase+meta.UserNSSize {
			return int(int64(id) - fromBase + toBase)
		}
		return int(id)
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		s := info.Sys().(*syscall.Stat_t)
		nu, ng := shift(s.Uid), shift(s.Gid)
		if nu == int(s.Uid) && ng == int(s.Gid) {
			return nil
		}
		mode := info.Mode()
		if err := os.Lchown(p, nu, ng); err != nil {
			return fmt.Errorf("set owner of %s: %w", p, err)
		}
		// chown clears setuid/setgid bits on files: put them back.
		if !mode.IsDir() && mode.Type() == 0 && mode&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			_ = os.Chmod(p, mode)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return os.Lchown(dir, wantUID, wantGID)
}

// Describe is the isolation in one line per item, for status and doctor.
func (iso Isolation) Describe() [][2]string {
	yes := func(b bool, on, off string) string {
		if b {
			return on
		}
		return off
	}
	aaLine := "not available (the host has no AppArmor)"
	if iso.AppArmorHost {
		aaLine = yes(iso.AppArmor != "", "profile "+iso.AppArmor, "off")
	}
	userns := "off: the sandbox's ids are the host's"
	if iso.UserNS {
		how := ""
		switch iso.Rootfs {
		case "idmapped":
			how = "rootfs idmapped; "
		case "chowned":
			how = "rootfs a chowned copy; "
		}
		userns = fmt.Sprintf("on: ids 0-65535 are host %d-%d (%svolumes owned in range)", iso.UserNSBase, uint64(iso.UserNSBase)+meta.UserNSSize-1, how)
	}
	limit := func(v string, set bool) string { return yes(set, v, "none") }
	return [][2]string{
		{"Seccomp", yes(iso.Seccomp, "containerd default profile", "off")},
		{"AppArmor", aaLine},
		{"User ns", userns},
		{"Pids", limit(strconv.FormatInt(iso.PidsLimit, 10), iso.PidsLimit > 0)},
		{"Memory", limit(formatMiB(iso.MemoryBytes), iso.MemoryBytes > 0)},
		{"CPUs", limit(strconv.FormatFloat(iso.CPUs, 'f', -1, 64), iso.CPUs > 0)},
	}
}

func formatMiB(b int64) string {
	if b%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", b>>30)
	}
	return fmt.Sprintf("%d MiB", b>>20)
}

// IsolationOfSpec reads the isolation a container was created with from
// its spec: what is in force, whatever the config says now.
func IsolationOfSpec(sp *oci.Spec, labels map[string]string) Isolation {
	var iso Isolation
	iso.AppArmorHost = hostFacts.apparmor()
	if sp.Process != nil {
		iso.AppArmor = sp.Process.ApparmorProfile
	}
	if sp.Linux == nil {
		return iso
	}
	iso.Seccomp = sp.Linux.Seccomp != nil
	for _, ns := range sp.Linux.Namespaces {
		if ns.Type == specs.UserNamespace && len(sp.Linux.UIDMappings) > 0 {
			iso.UserNS = true
			iso.UserNSBase = sp.Linux.UIDMappings[0].HostID
			iso.Rootfs = labels[LabelContainerRootfs]
		}
	}
	if r := sp.Linux.Resources; r != nil {
		if r.Pids != nil && r.Pids.Limit != nil {
			iso.PidsLimit = *r.Pids.Limit
		}
		if r.Memory != nil && r.Memory.Limit != nil {
			iso.MemoryBytes = *r.Memory.Limit
		}
		if r.CPU != nil && r.CPU.Quota != nil && r.CPU.Period != nil && *r.CPU.Period > 0 && *r.CPU.Quota > 0 {
			iso.CPUs = float64(*r.CPU.Quota) / float64(*r.CPU.Period)
		}
	}
	return iso
}

// LabelContainerIsolation records the isolation settings a container was
// created with, so that a change of the config's isolation keys recreates
// it; LabelContainerRootfs how its root file system was made (plain,
// idmapped or chowned).
const (
	LabelContainerIsolation = meta.LabelPrefix + "container.isolation"
	LabelContainerRootfs    = meta.LabelPrefix + "container.rootfs"
)

// label is the isolation settings in a stable, compact form.
func (iso Isolation) label() string {
	return fmt.Sprintf("seccomp=%t,apparmor=%s,userns=%d,pids=%d,memory=%d,cpus=%g",
		iso.Seccomp, iso.AppArmor, iso.HostID(0), iso.PidsLimit, iso.MemoryBytes, iso.CPUs)
}

func (iso Isolation) rootfsLabel() string {
	if !iso.UserNS {
		return "plain"
	}
	return iso.Rootfs
}

// MinRuncUserNS is the first runc that runs a user namespace occ can use:
// runc 1.1 starts it, but cannot exec into it when the network namespace
// belongs to the host (CNI), so `occ user` and the users tool fail.
const MinRuncUserNS = "1.2"

// Runc is the runc binary occ asks containerd to use.
type Runc struct {
	Path    string
	Version string // e.g. 1.5.3
}

var runcOnce struct {
	sync.Once
	found []Runc
}

// runcSearchPath is where occ looks for runc: $PATH, then the usual
// directories of root's PATH (containerd's own PATH is not visible).
func runcSearchPath() []string {
	dirs := filepath.SplitList(os.Getenv("PATH"))
	return append(dirs, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
}

// FindRuncs lists the runc binaries found, in search order, with their
// versions (once per process).
func FindRuncs() []Runc {
	runcOnce.Do(func() {
		seen := map[string]bool{}
		for _, d := range runcSearchPath() {
			if d == "" {
				continue
			}
			p := filepath.Join(d, "runc")
			real, err := filepath.EvalSymlinks(p)
			if err != nil || seen[real] {
				continue
			}
			seen[real] = true
			out, err := exec.Command(p, "--version").Output()
			if err != nil {
				continue
			}
			runcOnce.found = append(runcOnce.found, Runc{Path: p, Version: parseRuncVersion(string(out))})
		}
	})
	return runcOnce.found
}

// parseRuncVersion reads "runc version 1.1.5+ds1" from `runc --version`.
func parseRuncVersion(out string) string {
	line, _, _ := strings.Cut(out, "\n")
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "runc" || f[1] != "version" {
		return ""
	}
	v := f[2]
	if i := strings.IndexAny(v, "+-~"); i > 0 {
		v = v[:i]
	}
	return v
}

// versionAtLeast compares dotted versions numerically (1.10 > 1.2).
func versionAtLeast(v, min string) bool {
	a, b := strings.Split(v, "."), strings.Split(min, ".")
	for i := range b {
		if i >= len(a) {
			return false
		}
		x, err1 := strconv.Atoi(a[i])
		y, err2 := strconv.Atoi(b[i])
		if err1 != nil || err2 != nil {
			return false
		}
		if x != y {
			return x > y
		}
	}
	return true
}

// RuncFor picks the runc for iso: with a user namespace, the first runc
// ≥ MinRuncUserNS found (its absolute path goes into the container's
// runtime options, so containerd runs the one checked); without, ""
// (containerd's default, "runc" on its PATH). No suitable runc is a
// refusal that says both ways out.
func (iso Isolation) RuncFor() (string, error) {
	if !iso.UserNS {
		return "", nil
	}
	var seen []string
	for _, r := range FindRuncs() {
		if versionAtLeast(r.Version, MinRuncUserNS) {
			return r.Path, nil
		}
		seen = append(seen, fmt.Sprintf("%s is %s", r.Path, r.Version))
	}
	found := "no runc found"
	if len(seen) > 0 {
		found = strings.Join(seen, ", ")
	}
	return "", errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
		"the sandbox's user namespace needs runc >= %s (%s): install a newer runc (https://github.com/opencontainers/runc/releases) in /usr/local/sbin, "+
			"or run without a user namespace: occ config set userns false (docs/security.md says what that gives up)", MinRuncUserNS, found))
}

// IsolationInForce is the isolation the container was created with, read
// from its spec and labels (what runs, whatever the config says now).
func (s *Sandbox) IsolationInForce(ctx context.Context) (Isolation, error) {
	ctx = s.ctx(ctx)
	c, err := s.container(ctx)
	if err != nil {
		return Isolation{}, err
	}
	sp, err := c.Spec(ctx)
	if err != nil {
		return Isolation{}, fmt.Errorf("container spec: %w", err)
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return Isolation{}, fmt.Errorf("read container labels: %w", err)
	}
	return IsolationOfSpec(sp, labels), nil
}
