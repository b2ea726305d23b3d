package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sys/unix"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
	"github.com/opencode-cloud/occ/pkg/runtime"
	"github.com/opencode-cloud/occ/pkg/trust"
	"github.com/opencontainers/go-digest"
)

// checkStatus is the outcome of one doctor check.
type checkStatus string

const (
	checkOK   checkStatus = "ok"
	checkWarn checkStatus = "warn" // works, but worth knowing; or missing and not needed
	checkFail checkStatus = "fail" // missing and needed: doctor exits non-zero
	checkSkip checkStatus = "skip" // could not be checked because an earlier check failed
)

// checkResult is one line of `occ doctor`: what was checked, what was
// found, and the fix when something is wrong.
type checkResult struct {
	Name   string      `json:"name"`
	Status checkStatus `json:"status"`
	Detail string      `json:"detail"`
	Fix    string      `json:"fix,omitempty"`
}

// checkTimeout bounds each network check.
const checkTimeout = 5 * time.Second

// cniPlugins are the plugins occ's network uses (pkg/runtime's conflist).
var cniPlugins = []string{"bridge", "host-local", "portmap", "firewall", "loopback"}

// minFreeBytes and lowFreeBytes bound the disk check: below min the sandbox
// image cannot land; below low it is tight.
const (
	minFreeBytes = 2 << 30
	lowFreeBytes = 10 << 30
)

// doctor runs every check, in order, and returns the results.
func runDoctor(ctx context.Context, app *App) []checkResult {
	var out []checkResult
	add := func(r checkResult) { out = append(out, r) }

	cfg, exists, err := app.LoadConfig()
	switch {
	case err != nil:
		add(checkResult{Name: "config", Status: checkFail, Detail: err.Error(), Fix: "fix the file, or `occ config reset`"})
		return out
	case !exists:
		add(checkResult{Name: "config", Status: checkOK, Detail: app.Paths.ConfigFile + " does not exist yet: using the defaults"})
	default:
		if err := cfg.Validate(); err != nil {
			add(checkResult{Name: "config", Status: checkFail, Detail: err.Error(), Fix: "run the fixes above (occ config set KEY VALUE)"})
		} else {
			add(checkResult{Name: "config", Status: checkOK, Detail: app.Paths.ConfigFile + " is valid"})
		}
	}

	out = append(out, daemonChecks(app, cfg)...)
	out = append(out, checkContainerd(ctx, cfg)...)
	add(checkRunc())
	out = append(out, checkIsolation(cfg)...)
	if cfg.NetworkMode != meta.NetworkHost {
		add(checkCNI(cfg.CNIPluginDirs))
		add(checkIptables())
	} else {
		add(checkResult{Name: "network", Status: checkOK, Detail: "network_mode host: no CNI plugins or iptables needed"})
	}
	add(checkBuildkit(ctx, cfg))
	out = append(out, checkRegistries(ctx, cfg, app.Paths)...)
	for _, r := range checkRootless() {
		add(r)
	}
	add(checkDisk(app.Paths.DataDir))
	return out
}

func checkContainerd(ctx context.Context, cfg *meta.Config) []checkResult {
	addr := cfg.ContainerdAddress()
	path := strings.TrimPrefix(addr, "unix://")
	sock := checkResult{Name: "containerd socket"}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		sock.Status, sock.Detail = checkFail, "no socket at "+path
		sock.Fix = "start containerd (systemctl start containerd; Debian/Ubuntu: apt-get install containerd), or point occ at its socket: occ config set containerd_address /path/to/containerd.sock"
	case err != nil:
		sock.Status, sock.Detail, sock.Fix = checkFail, err.Error(), "run occ as root, or as a user allowed to use "+path
	case st.Mode()&fs.ModeSocket == 0:
		sock.Status, sock.Detail, sock.Fix = checkFail, path+" is not a socket", "occ config set containerd_address /run/containerd/containerd.sock"
	default:
		sock.Status, sock.Detail = checkOK, path
	}
	skipped := func(names ...string) []checkResult {
		out := []checkResult{sock}
		for _, n := range names {
			out = append(out, checkResult{Name: n, Status: checkSkip, Detail: "containerd is not reachable"})
		}
		return out
	}
	if sock.Status != checkOK {
		return skipped("containerd version", "containerd namespace", "snapshotter")
	}
	cctx, cancel := context.WithTimeout(ctx, 2*checkTimeout)
	defer cancel()
	rt, err := runtime.Connect(cctx, addr, cfg.ContainerdNamespace, cfg.Snapshotter)
	if err != nil {
		sock.Status, sock.Detail, sock.Fix = checkFail, err.Error(), "check that containerd runs and that this is its socket"
		return skipped("containerd version", "containerd namespace", "snapshotter")
	}
	defer rt.Close()
	nctx := rt.WithNamespace(cctx)
	out := []checkResult{sock}

	v := checkResult{Name: "containerd version"}
	if ver, err := rt.Version(nctx); err != nil {
		v.Status, v.Detail = checkFail, err.Error()
	} else {
		v.Status, v.Detail = checkOK, ver.Version
		if tooOldContainerd(ver.Version) {
			v.Status, v.Detail, v.Fix = checkFail, ver.Version+" is too old", "upgrade containerd to 1.6 or newer"
		}
	}
	out = append(out, v)

	ns := checkResult{Name: "containerd namespace", Status: checkOK}
	if names, err := rt.NamespaceService().List(nctx); err != nil {
		ns.Status, ns.Detail = checkWarn, "cannot list namespaces: "+err.Error()
	} else if slices.Contains(names, cfg.ContainerdNamespace) {
		ns.Detail = cfg.ContainerdNamespace + " exists"
	} else {
		ns.Detail = cfg.ContainerdNamespace + " does not exist yet (created on first pull, build or start)"
	}
	out = append(out, ns)

	sn := checkResult{Name: "snapshotter", Status: checkFail}
	resp, err := rt.IntrospectionService().Plugins(nctx, "type==io.containerd.snapshotter.v1,id=="+cfg.Snapshotter)
	switch {
	case err != nil:
		sn.Detail = "cannot ask containerd: " + err.Error()
	case len(resp.Plugins) == 0:
		sn.Detail = "containerd has no snapshotter " + cfg.Snapshotter
		sn.Fix = "occ config set snapshotter overlayfs (or native, slower but works everywhere)"
	case resp.Plugins[0].InitErr != nil:
		sn.Detail = fmt.Sprintf("%s failed to load in containerd: %s", cfg.Snapshotter, resp.Plugins[0].InitErr.Message)
		sn.Fix = "use a filesystem overlayfs works on (not overlay-on-overlay), or occ config set snapshotter native"
	default:
		sn.Status, sn.Detail = checkOK, cfg.Snapshotter
	}
	return append(out, sn)
}

// tooOldContainerd says whether v ("v1.5.9", "1.7.13-1", "2.4.2+unknown")
// is older than 1.6, the oldest containerd occ's runtime supports. An
// unparsable version is given the benefit of the doubt.
func tooOldContainerd(v string) bool {
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

func checkRunc() checkResult {
	r := checkResult{Name: "runc"}
	p, err := exec.LookPath("runc")
	if err != nil {
		r.Status, r.Detail = checkFail, "runc is not on PATH (containerd's runc shim needs it)"
		r.Fix = "install runc (Debian/Ubuntu: apt-get install runc)"
		return r
	}
	out, err := exec.Command(p, "--version").Output()
	if err != nil {
		r.Status, r.Detail, r.Fix = checkFail, p+" does not run: "+err.Error(), "reinstall runc"
		return r
	}
	first, _, _ := strings.Cut(string(out), "\n")
	r.Status, r.Detail = checkOK, p+" ("+strings.TrimSpace(first)+")"
	return r
}

func checkCNI(dirs []string) checkResult {
	r := checkResult{Name: "CNI plugins", Status: checkFail,
		Fix: "install the CNI plugins (Debian/Ubuntu: apt-get install containernetworking-plugins), point cni_plugin_dirs at them (occ config set cni_plugin_dirs /opt/cni/bin), or occ config set network_mode host"}
	var missing []string
	found := map[string]string{}
	for _, p := range cniPlugins {
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
	for _, p := range cniPlugins {
		if !slices.Contains(where, found[p]) {
			where = append(where, found[p])
		}
	}
	r.Status, r.Detail, r.Fix = checkOK, strings.Join(cniPlugins, ", ")+" in "+strings.Join(where, ":"), ""
	return r
}

func checkIptables() checkResult {
	r := checkResult{Name: "iptables"}
	p, err := exec.LookPath("iptables")
	if err != nil {
		r.Status, r.Detail = checkFail, "iptables is not on PATH (the CNI portmap and firewall plugins need it)"
		r.Fix = "install iptables (Debian/Ubuntu: apt-get install iptables), or occ config set network_mode host"
		return r
	}
	r.Status, r.Detail = checkOK, p
	return r
}

func checkBuildkit(ctx context.Context, cfg *meta.Config) checkResult {
	r := checkResult{Name: "BuildKit"}
	needed := cfg.ImageSource == meta.SourceBuild
	cctx, cancel := context.WithTimeout(ctx, 2*checkTimeout)
	defer cancel()
	d, err := build.Connect(cctx, cfg.BuildkitAddresses())
	if err != nil {
		r.Status, r.Detail = checkWarn, "not reachable: "+oneLine(err)
		var ue *build.UnreachableError
		if errors.As(err, &ue) {
			var tried []string
			for _, t := range ue.Tried {
				tried = append(tried, fmt.Sprintf("%s: %v", t.Address, t.Err))
			}
			r.Detail = "not reachable at " + strings.Join(tried, "; ")
		}
		if needed {
			r.Status = checkFail
		} else {
			r.Detail += " (needed only to build from source: image_source is " + cfg.ImageSource + ")"
		}
		r.Fix = "start buildkitd (rootful: buildkitd --addr unix:///run/buildkit/buildkitd.sock --oci-worker=false --containerd-worker=true --containerd-worker-namespace=" +
			cfg.ContainerdNamespace + "), or point occ at it: occ config set buildkit_address unix:///path/to/buildkitd.sock"
		return r
	}
	defer d.Close()
	r.Status = checkOK
	r.Detail = fmt.Sprintf("%s at %s, %s worker", d.Version, d.Address, d.Worker.Kind)
	if d.Worker.Kind == build.WorkerContainerd {
		r.Detail += " (namespace " + d.Worker.Namespace + ")"
		if d.Worker.Namespace != cfg.ContainerdNamespace {
			r.Detail += "; images are copied into " + cfg.ContainerdNamespace + " after each build"
		}
	}
	return r
}

// oneLine is the first line of an error.
func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimSuffix(s, ":")
}

// insecureHost says whether occ talks plain HTTP to host: it is listed in
// insecure_registries, or it is a loopback address.
func insecureHost(cfg *meta.Config, host string) bool {
	if slices.Contains(cfg.InsecureRegistries, host) {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

func checkRegistries(ctx context.Context, cfg *meta.Config, paths meta.Paths) []checkResult {
	needed := cfg.ImageSource == meta.SourcePrebuilt
	var out, bad []checkResult // bad: references that do not parse (always a failure)
	anyOK := false
	for _, repo := range cfg.ImageRepositories {
		r := checkResult{Name: "registry " + repo}
		ref := repo + ":" + cfg.PullTag()
		if cfg.ImageDigest != "" {
			ref = repo + "@" + cfg.ImageDigest
		}
		var opts []name.Option
		if host := registryHost(repo); insecureHost(cfg, host) {
			opts = append(opts, name.Insecure)
		}
		pr, err := name.ParseReference(ref, opts...)
		if err != nil {
			r.Status, r.Detail, r.Fix = checkFail, err.Error(), "fix image_repositories / image_tag / image_digest"
			bad = append(bad, r)
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 2*checkTimeout)
		desc, err := remote.Head(pr, remote.WithContext(cctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
		cancel()
		if err == nil {
			r.Status, r.Detail = checkOK, fmt.Sprintf("%s reachable (%s)", ref, shortDigest(digest.Digest(desc.Digest.String())))
			checkServedImage(ctx, cfg, paths, repo, pr, desc.Digest.String(), &r)
			anyOK = anyOK || r.Status == checkOK
			out = append(out, r)
			continue
		}
		r.Status, r.Detail, r.Fix = registryFailure(ref, pr.Context().RegistryStr(), err)
		out = append(out, r)
	}
	// One reachable repository is enough (the others are fallbacks), and
	// none is needed unless images are pulled.
	for i := range out {
		switch {
		case out[i].Status == checkOK:
		case anyOK || !needed:
			out[i].Status = checkWarn
		default:
			out[i].Status = checkFail
		}
	}
	return append(out, bad...)
}

// checkServedImage looks at what a reachable repository serves: it must be
// an occ sandbox (the org.opencode-cloud.version label in its config for
// this host's platform), and its signature must satisfy the policy for
// that repository. Both are said here, before a pull records the image
// and `occ user` fails on it.
func checkServedImage(ctx context.Context, cfg *meta.Config, paths meta.Paths, repo string, ref name.Reference, dgst string, r *checkResult) {
	cctx, cancel := context.WithTimeout(ctx, 2*checkTimeout)
	defer cancel()
	ropts := []remote.Option{remote.WithContext(cctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	hp := registry.HostPlatform()
	img, err := remote.Image(ref, append(ropts, remote.WithPlatform(v1.Platform{OS: hp.OS, Architecture: hp.Architecture, Variant: hp.Variant}))...)
	var cf *v1.ConfigFile
	if err == nil {
		cf, err = img.ConfigFile()
	}
	if err != nil {
		r.Status, r.Detail = checkWarn, r.Detail+"; cannot read its image config: "+oneLine(err)
		return
	}
	ver := cf.Config.Labels[meta.ImageVersionLabel]
	if ver == "" {
		r.Status = checkFail
		r.Detail += "; NOT an occ sandbox image (no " + meta.ImageVersionLabel + " label): occ cannot run it (no login gateway, no opencode-cloud-users)"
		r.Fix = "use occ's own sandbox: occ config set image_repositories " + strings.Join(meta.DefaultImageRepositories, ",") +
			" (or build it: occ config set image_source build)"
		return
	}
	r.Detail += ", occ sandbox " + ver
	mode := cfg.VerifyMode(repo)
	if mode == meta.VerifyOff {
		r.Detail += ", signature not checked (image_verify off)"
		return
	}
	p, err := verifyPolicy(cfg, paths)
	if err != nil {
		r.Status, r.Detail, r.Fix = checkFail, r.Detail+"; "+oneLine(err), "fix the file named in the config"
		return
	}
	v, err := p.Check(cctx, mode, ref.Context().Digest(dgst), ropts...)
	switch {
	case err != nil:
		r.Status = checkFail
		r.Detail += "; signature refused (image_verify " + mode + "): " + oneLine(err)
		var h trust.Hinter
		if errors.As(err, &h) {
			r.Fix = h.Hint()
		}
	case v == nil:
	case v.Verified:
		r.Detail += ", signature verified: " + describeVerification(v)
	default:
		r.Status = checkWarn
		r.Detail += "; signature NOT verified (image_verify " + mode + " pulls it anyway): " + v.Problem
		r.Fix = "publish a signed image, or point image_verify_key / image_verify_identity at its signer"
	}
}

func registryHost(repo string) string {
	r, err := name.NewRepository(repo)
	if err != nil {
		return ""
	}
	return r.RegistryStr()
}

// registryFailure explains why a manifest HEAD failed.
func registryFailure(ref, host string, err error) (checkStatus, string, string) {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return checkFail, fmt.Sprintf("%s: access denied (HTTP %d)", ref, te.StatusCode),
				fmt.Sprintf("log in to %s (credentials are read from ~/.docker/config.json or $DOCKER_CONFIG), or check that the repository is public", host)
		case http.StatusNotFound:
			return checkWarn, ref + ": not found (the tag or digest is not published there)",
				"check image_tag / image_digest, or remove this repository from image_repositories"
		}
		return checkFail, fmt.Sprintf("%s: HTTP %d", ref, te.StatusCode), "try again later; the registry answered with an error"
	}
	msg := oneLine(err)
	fix := "check the network and DNS, or proxy settings ($HTTPS_PROXY)"
	if strings.Contains(msg, "server gave HTTP response to HTTPS client") {
		fix = "this registry speaks plain HTTP: occ config set insecure_registries " + host
	} else if strings.Contains(msg, "certificate") || strings.Contains(msg, "x509") {
		fix = "install the registry's CA certificate, or (test registries only) occ config set insecure_registries " + host
	}
	if errors.Is(err, context.DeadlineExceeded) {
		msg = fmt.Sprintf("no answer within %s", 2*checkTimeout)
	}
	return checkFail, ref + ": " + msg, fix
}

// checkRootless: root, or the rootless lines of pkg/runtime (rootless
// mode and each prerequisite of rootless containerd, with its fix).
func checkRootless() []checkResult {
	checks := runtime.RootlessChecks()
	if checks == nil {
		return []checkResult{{Name: "privileges", Status: checkOK, Detail: "running as root"}}
	}
	out := make([]checkResult, 0, len(checks))
	for _, c := range checks {
		out = append(out, checkResult{Name: c.Name, Status: checkStatus(c.Status), Detail: c.Detail, Fix: c.Fix})
	}
	return out
}

func checkDisk(dataDir string) checkResult {
	r := checkResult{Name: "disk space"}
	dir := dataDir
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
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		r.Status, r.Detail = checkWarn, "cannot tell: "+err.Error()
		return r
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	r.Detail = fmt.Sprintf("%s free at %s", formatBytes(free), dir)
	switch {
	case free < minFreeBytes:
		r.Status, r.Fix = checkFail, fmt.Sprintf("free at least %s (the sandbox image and its unpacked layers need several GiB)", formatBytes(minFreeBytes))
	case free < lowFreeBytes:
		r.Status, r.Fix = checkWarn, fmt.Sprintf("less than %s free: image updates keep the previous image too", formatBytes(lowFreeBytes))
	default:
		r.Status = checkOK
	}
	return r
}

// renderDoctor prints the results and a summary line.
// With onlyFailures (-q) it prints the failed checks and nothing else.
func renderDoctor(w io.Writer, ui *UI, results []checkResult, onlyFailures bool) (failed, warned int) {
	width := 0
	for _, r := range results {
		width = max(width, len(r.Name))
	}
	for _, r := range results {
		switch r.Status {
		case checkFail:
			failed++
		case checkWarn:
			warned++
		}
		if onlyFailures && r.Status != checkFail {
			continue
		}
		p := ui.For(w)
		mark := map[checkStatus]string{checkOK: p.Green("ok  "), checkWarn: p.Yellow("warn"), checkFail: p.red.Sprint("FAIL"), checkSkip: p.dim.Sprint("skip")}[r.Status]
		fmt.Fprintf(w, "[%s] %-*s  %s\n", mark, width, r.Name, r.Detail)
		if r.Fix != "" && (r.Status == checkFail || r.Status == checkWarn) {
			fmt.Fprintf(w, "       %-*s  Fix: %s\n", width, "", r.Fix)
		}
	}
	switch {
	case onlyFailures:
	case failed > 0:
		fmt.Fprintf(w, "\n%d problem(s) must be fixed before occ can run the sandbox; %d warning(s).\n", failed, warned)
	case warned > 0:
		fmt.Fprintf(w, "\nEverything needed is in place; %d warning(s).\n", warned)
	default:
		fmt.Fprintf(w, "\nEverything is in place.\n")
	}
	return failed, warned
}

// checkIsolation says what isolation the sandbox will get on this host,
// and what stops it: a user namespace range the host already uses, or a
// runc too old for a user namespace.
func checkIsolation(cfg *meta.Config) []checkResult {
	iso, err := runtime.ResolveIsolation(cfg)
	if err != nil {
		return []checkResult{{Name: "isolation", Status: checkFail, Detail: err.Error(), Fix: "occ config set the key it names"}}
	}
	lines := map[string]string{}
	for _, l := range iso.Describe() {
		lines[l[0]] = l[1]
	}
	var out []checkResult
	sc := checkResult{Name: "seccomp", Status: checkOK, Detail: lines["Seccomp"]}
	if !iso.Seccomp {
		sc.Status, sc.Fix = checkWarn, "occ config set seccomp true"
	}
	out = append(out, sc)
	aa := checkResult{Name: "AppArmor", Status: checkOK, Detail: lines["AppArmor"]}
	if iso.AppArmor != "" {
		if _, err := exec.LookPath("apparmor_parser"); err != nil {
			aa.Status, aa.Detail = checkFail, "the host has AppArmor but no apparmor_parser to load the "+runtime.AppArmorProfile+" profile"
			aa.Fix = "apt-get install apparmor, or occ config set apparmor false"
		}
	} else if iso.AppArmorHost {
		aa.Status, aa.Fix = checkWarn, "occ config set apparmor true"
	}
	out = append(out, aa)
	un := checkResult{Name: "user namespace", Status: checkOK, Detail: lines["User ns"]}
	switch {
	case !iso.UserNS && runtime.InRootlessChild():
		un.Detail = "off: rootless containerd's user namespace holds the sandbox (its root is your user on the host)"
	case !iso.UserNS:
		un.Status, un.Fix = checkWarn, "occ config set userns true"
	case iso.CheckUserNSRange() != nil:
		un.Status, un.Detail, un.Fix = checkFail, iso.CheckUserNSRange().Error(), "occ config set userns_base N"
		if runtime.InRootlessChild() {
			un.Fix = "occ config set userns false"
		}
	default:
		if runc, err := iso.RuncFor(); err != nil {
			un.Status, un.Detail, un.Fix = checkFail, err.Error(), "install runc >= "+runtime.MinRuncUserNS+", or occ config set userns false"
		} else {
			un.Detail += "; runc " + runc
		}
	}
	out = append(out, un)
	out = append(out, checkResult{Name: "limits", Status: checkOK,
		Detail: fmt.Sprintf("pids %s, memory %s, CPUs %s", lines["Pids"], lines["Memory"], lines["CPUs"])})
	return out
}
