package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// CNIPlugins are the plugins occ's network uses (pkg/runtime's conflist).
var CNIPlugins = []string{"bridge", "host-local", "portmap", "firewall", "loopback"}

// minFreeBytes and lowFreeBytes bound the disk check: below min the sandbox
// image cannot land; below low it is tight.
const (
	minFreeBytes = 2 << 30
	lowFreeBytes = 10 << 30
)

// Containerd checks containerd's socket, its version, occ's namespace and
// the snapshotter. Without containerd the last three are skipped.
func Containerd(ctx context.Context, env *Env) []Check {
	cfg := env.Config
	path := strings.TrimPrefix(cfg.ContainerdAddress(), "unix://")
	sock := socketCheck(path)
	skipped := func() []Check {
		out := []Check{sock}
		for _, n := range []string{"containerd version", "containerd namespace", "snapshotter"} {
			out = append(out, Check{Name: n, Status: Skip, Detail: "containerd is not reachable"})
		}
		return out
	}
	if sock.Status != OK {
		return skipped()
	}
	cctx, cancel := context.WithTimeout(ctx, 2*checkTimeout)
	defer cancel()
	rt, err := env.ConnectContainerd(cctx, cfg)
	if err != nil {
		sock.Status, sock.Detail, sock.Fix = Fail, err.Error(), "check that containerd runs and that this is its socket"
		return skipped()
	}
	defer rt.Close()
	return []Check{sock, versionCheck(cctx, rt), namespaceCheck(cctx, rt, cfg.ContainerdNamespace), snapshotterCheck(cctx, rt, cfg.Snapshotter)}
}

func socketCheck(path string) Check {
	sock := Check{Name: "containerd socket"}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		sock.Status, sock.Detail = Fail, "no socket at "+path
		sock.Fix = "start containerd (systemctl start containerd; Debian/Ubuntu: apt-get install containerd), or point occ at its socket: occ config set containerd_address /path/to/containerd.sock"
	case err != nil:
		sock.Status, sock.Detail, sock.Fix = Fail, err.Error(), "run occ as root, or as a user allowed to use "+path
	case st.Mode()&fs.ModeSocket == 0:
		sock.Status, sock.Detail, sock.Fix = Fail, path+" is not a socket", "occ config set containerd_address /run/containerd/containerd.sock"
	default:
		sock.Status, sock.Detail = OK, path
	}
	return sock
}

func versionCheck(ctx context.Context, rt ContainerdClient) Check {
	v := Check{Name: "containerd version"}
	ver, err := rt.Version(ctx)
	switch {
	case err != nil:
		v.Status, v.Detail = Fail, err.Error()
	case TooOldContainerd(ver):
		v.Status, v.Detail, v.Fix = Fail, ver+" is too old", "upgrade containerd to 1.6 or newer"
	default:
		v.Status, v.Detail = OK, ver
	}
	return v
}

func namespaceCheck(ctx context.Context, rt ContainerdClient, ns string) Check {
	c := Check{Name: "containerd namespace", Status: OK}
	names, err := rt.Namespaces(ctx)
	switch {
	case err != nil:
		c.Status, c.Detail = Warn, "cannot list namespaces: "+err.Error()
	case slices.Contains(names, ns):
		c.Detail = ns + " exists"
	default:
		c.Detail = ns + " does not exist yet (created on first pull, build or start)"
	}
	return c
}

func snapshotterCheck(ctx context.Context, rt ContainerdClient, name string) Check {
	sn := Check{Name: "snapshotter", Status: Fail}
	found, initErr, err := rt.SnapshotterPlugin(ctx, name)
	switch {
	case err != nil:
		sn.Detail = "cannot ask containerd: " + err.Error()
	case !found:
		sn.Detail = "containerd has no snapshotter " + name
		sn.Fix = "occ config set snapshotter overlayfs (or native, slower but works everywhere)"
	case initErr != "":
		sn.Detail = fmt.Sprintf("%s failed to load in containerd: %s", name, initErr)
		sn.Fix = "use a filesystem overlayfs works on (not overlay-on-overlay), or occ config set snapshotter native"
	default:
		sn.Status, sn.Detail = OK, name
	}
	return sn
}

// TooOldContainerd says whether v ("v1.5.9", "1.7.13-1", "2.4.2+unknown")
// is older than 1.6, the oldest containerd occ's runtime supports. An
// unparsable version is given the benefit of the doubt.
func TooOldContainerd(v string) bool {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major < 1 || (major == 1 && minor < 6)
}

// Runc checks that runc is on PATH and runs.
func Runc(_ context.Context, env *Env) []Check {
	r := Check{Name: "runc"}
	p, err := env.LookPath("runc")
	if err != nil {
		r.Status, r.Detail = Fail, "runc is not on PATH (containerd's runc shim needs it)"
		r.Fix = "install runc (Debian/Ubuntu: apt-get install runc)"
		return []Check{r}
	}
	out, err := env.Output(p, "--version")
	if err != nil {
		r.Status, r.Detail, r.Fix = Fail, p+" does not run: "+err.Error(), "reinstall runc"
		return []Check{r}
	}
	first, _, _ := strings.Cut(string(out), "\n")
	r.Status, r.Detail = OK, p+" ("+strings.TrimSpace(first)+")"
	return []Check{r}
}

// Network checks the CNI plugins and iptables, or says that network_mode
// host needs neither.
func Network(_ context.Context, env *Env) []Check {
	if env.Config.NetworkMode == meta.NetworkHost {
		return []Check{{Name: "network", Status: OK, Detail: "network_mode host: no CNI plugins or iptables needed"}}
	}
	return []Check{CNI(env.Config.CNIPluginDirs), iptables(env)}
}

// CNI checks that every plugin in CNIPlugins is an executable in one of
// dirs.
func CNI(dirs []string) Check {
	r := Check{Name: "CNI plugins", Status: Fail,
		Fix: "install the CNI plugins (Debian/Ubuntu: apt-get install containernetworking-plugins), point cni_plugin_dirs at them (occ config set cni_plugin_dirs /opt/cni/bin), or occ config set network_mode host"}
	var missing []string
	found := map[string]string{}
	for _, p := range CNIPlugins {
		for _, d := range dirs {
			if st, err := os.Stat(filepath.Join(d, p)); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				found[p] = d
				break
			}
		}
		if found[p] == "" {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		r.Detail = fmt.Sprintf("missing %s in %s", strings.Join(missing, ", "), strings.Join(dirs, ":"))
		return r
	}
	var where []string
	for _, p := range CNIPlugins {
		if !slices.Contains(where, found[p]) {
			where = append(where, found[p])
		}
	}
	r.Status, r.Detail, r.Fix = OK, strings.Join(CNIPlugins, ", ")+" in "+strings.Join(where, ":"), ""
	return r
}

func iptables(env *Env) Check {
	r := Check{Name: "iptables"}
	p, err := env.LookPath("iptables")
	if err != nil {
		r.Status, r.Detail = Fail, "iptables is not on PATH (the CNI portmap and firewall plugins need it)"
		r.Fix = "install iptables (Debian/Ubuntu: apt-get install iptables), or occ config set network_mode host"
		return r
	}
	r.Status, r.Detail = OK, p
	return r
}

// BuildKit checks that a BuildKit daemon answers; it is needed only when
// images are built (image_source build).
func BuildKit(ctx context.Context, env *Env) []Check {
	cfg := env.Config
	r := Check{Name: "BuildKit"}
	cctx, cancel := context.WithTimeout(ctx, 2*checkTimeout)
	defer cancel()
	d, err := env.ConnectBuildKit(cctx, cfg.BuildkitAddresses())
	if err != nil {
		return []Check{buildkitFailure(cfg, err)}
	}
	r.Status = OK
	r.Detail = fmt.Sprintf("%s at %s, %s worker", d.Version, d.Address, d.Worker.Kind)
	if d.Worker.Kind == build.WorkerContainerd {
		r.Detail += " (namespace " + d.Worker.Namespace + ")"
		if d.Worker.Namespace != cfg.ContainerdNamespace {
			r.Detail += "; images are copied into " + cfg.ContainerdNamespace + " after each build"
		}
	}
	return []Check{r}
}

func buildkitFailure(cfg *meta.Config, err error) Check {
	r := Check{Name: "BuildKit", Status: Warn, Detail: "not reachable: " + oneLine(err)}
	var ue *build.UnreachableError
	if errors.As(err, &ue) {
		var tried []string
		for _, t := range ue.Tried {
			tried = append(tried, fmt.Sprintf("%s: %v", t.Address, t.Err))
		}
		r.Detail = "not reachable at " + strings.Join(tried, "; ")
	}
	if cfg.ImageSource == meta.SourceBuild {
		r.Status = Fail
	} else {
		r.Detail += " (needed only to build from source: image_source is " + cfg.ImageSource + ")"
	}
	r.Fix = "start buildkitd (rootful: buildkitd --addr unix:///run/buildkit/buildkitd.sock --oci-worker=false --containerd-worker=true --containerd-worker-namespace=" +
		cfg.ContainerdNamespace + "), or point occ at it: occ config set buildkit_address unix:///path/to/buildkitd.sock"
	return r
}

// Isolation says what isolation the sandbox will get on this host, and
// what stops it: a user namespace range the host already uses, or a runc
// too old for a user namespace.
func Isolation(_ context.Context, env *Env) []Check {
	iso, err := runtime.ResolveIsolation(env.Config)
	if err != nil {
		return []Check{{Name: "isolation", Status: Fail, Detail: err.Error(), Fix: "occ config set the key it names"}}
	}
	lines := map[string]string{}
	for _, l := range iso.Describe() {
		lines[l[0]] = l[1]
	}
	sc := Check{Name: "seccomp", Status: OK, Detail: lines["Seccomp"]}
	if !iso.Seccomp {
		sc.Status, sc.Fix = Warn, "occ config set seccomp true"
	}
	aa := Check{Name: "AppArmor", Status: OK, Detail: lines["AppArmor"]}
	if iso.AppArmor != "" {
		if _, err := env.LookPath("apparmor_parser"); err != nil {
			aa.Status, aa.Detail = Fail, "the host has AppArmor but no apparmor_parser to load the "+runtime.AppArmorProfile+" profile"
			aa.Fix = "apt-get install apparmor, or occ config set apparmor false"
		}
	} else if iso.AppArmorHost {
		aa.Status, aa.Fix = Warn, "occ config set apparmor true"
	}
	un := Check{Name: "user namespace", Status: OK, Detail: lines["User ns"]}
	switch rangeErr := iso.CheckUserNSRange(); {
	case !iso.UserNS && runtime.InRootlessChild():
		un.Detail = "off: rootless containerd's user namespace holds the sandbox (its root is your user on the host)"
	case !iso.UserNS:
		un.Status, un.Fix = Warn, "occ config set userns true"
	case rangeErr != nil:
		un.Status, un.Detail, un.Fix = Fail, rangeErr.Error(), "occ config set userns_base N"
		if runtime.InRootlessChild() {
			un.Fix = "occ config set userns false"
		}
	default:
		un.Detail = userNSRunc(iso, un.Detail, &un)
	}
	limits := Check{Name: "limits", Status: OK,
		Detail: fmt.Sprintf("pids %s, memory %s, CPUs %s", lines["Pids"], lines["Memory"], lines["CPUs"])}
	return []Check{sc, aa, un, limits}
}

// userNSRunc checks the runc a user namespace needs, setting un's failure
// when it is too old; it returns the detail line.
func userNSRunc(iso runtime.Isolation, detail string, un *Check) string {
	runc, err := iso.RuncFor()
	if err != nil {
		un.Status, un.Fix = Fail, "install runc >= "+runtime.MinRuncUserNS+", or occ config set userns false"
		return err.Error()
	}
	return detail + "; runc " + runc
}

// Privileges says whether occ runs as root; otherwise the rootless lines
// (runtime.RootlessChecks: rootless mode and each prerequisite of rootless
// containerd, with its fix).
func Privileges(_ context.Context, env *Env) []Check {
	if env.Geteuid() == 0 && !runtime.InRootlessChild() {
		return []Check{{Name: "privileges", Status: OK, Detail: "running as root"}}
	}
	var out []Check
	for _, c := range env.Rootless() {
		out = append(out, Check{Name: c.Name, Status: Status(c.Status), Detail: c.Detail, Fix: c.Fix})
	}
	if len(out) == 0 {
		out = append(out, Check{Name: "privileges", Status: Warn,
			Detail: "not root: occ needs a containerd (and BuildKit) this user may use",
			Fix:    "start rootless containerd (docs/rootless.md), or run occ as root"})
	}
	return out
}

// Disk checks the space free where occ keeps its data (the nearest
// existing parent of the data directory).
func Disk(_ context.Context, env *Env) []Check {
	r := Check{Name: "disk space"}
	dir := env.Paths.DataDir
	for {
		if _, err := os.Stat(dir); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	free, err := env.FreeBytes(dir)
	if err != nil {
		r.Status, r.Detail = Warn, "cannot tell: "+err.Error()
		return []Check{r}
	}
	r.Detail = fmt.Sprintf("%s free at %s", formatBytes(free), dir)
	switch {
	case free < minFreeBytes:
		r.Status, r.Fix = Fail, fmt.Sprintf("free at least %s (the sandbox image and its unpacked layers need several GiB)", formatBytes(minFreeBytes))
	case free < lowFreeBytes:
		r.Status, r.Fix = Warn, fmt.Sprintf("less than %s free: image updates keep the previous image too", formatBytes(lowFreeBytes))
	default:
		r.Status = OK
	}
	return []Check{r}
}

// formatBytes prints a size with binary units (1.50 GiB), as `occ status`
// does.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.2f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
