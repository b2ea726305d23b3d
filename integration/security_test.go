//go:build integration

package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// The security review's items that need the real daemons and the real
// binary (docs/reliability.md lists which test proves which item).

// wantCaps is the exact capability set of the sandbox container. Written
// out here (not taken from runtime.SandboxCapabilities) so that widening
// it fails this test.
var wantCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"}

// capMask is the /proc/PID/status bit mask of wantCaps.
func capMask() uint64 {
	bits := map[string]uint{"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7}
	var m uint64
	for _, c := range wantCaps {
		m |= 1 << bits[c]
	}
	return m
}

// checkSandboxSpec asserts the isolation of a sandbox container's spec:
// the exact capabilities, no_new_privs, its own pid/ipc/uts/mount/network
// namespaces (none of the host's), not privileged, and no bind mount but
// occ's own files, its volumes and the configured mounts. Used by the
// integration test (test image) and the e2e test (the real sandbox).
func checkSandboxSpec(t *testing.T, sp *oci.Spec, dataDir string, mounts []string) {
	t.Helper()
	c := sp.Process.Capabilities
	for what, got := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
		g := append([]string(nil), got...)
		sort.Strings(g)
		if strings.Join(g, ",") != strings.Join(wantCaps, ",") {
			t.Errorf("%s capabilities %v, want exactly %v", what, g, wantCaps)
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
	for _, m := range sp.Mounts {
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

// checkTaskIsolation looks at the running container's init process on the
// host: its namespaces differ from the host's, its capability sets are
// exactly wantCaps and no_new_privs is set.
func checkTaskIsolation(t *testing.T, pid uint32, hostNet bool) {
	t.Helper()
	for _, n := range []string{"pid", "ipc", "uts", "mnt", "net"} {
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
		}
	}
}

// TestSecurityContainerIsolation: the sandbox in cni mode, with a
// configured mount, inspected in containerd and on the host.
func TestSecurityContainerIsolation(t *testing.T) {
	host := t.TempDir()
	mount := host + ":/mnt/host:ro"
	f := newRTFixture(t, func(c *meta.Config) { c.Mounts = []string{mount} })
	f.start()
	nctx := f.client.WithNamespace(f.ctx)
	ctr, err := f.client.LoadContainer(nctx, f.name)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ctr.Spec(nctx)
	if err != nil {
		t.Fatal(err)
	}
	checkSandboxSpec(t, sp, f.paths.DataDir, []string{mount})
	task, err := ctr.Task(nctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkTaskIsolation(t, task.Pid(), false)
}

// authRegistry is go-containerregistry's registry behind HTTP Basic auth
// with one account, on loopback.
func authRegistry(t *testing.T, user, token string) *httptest.Server {
	inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// secretNowhere fails when secret (or its base64 forms) appears in any
// of texts or in any file under dirs.
func secretNowhere(t *testing.T, secret string, texts map[string]string, dirs ...string) {
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

// TestSecurityCredentialsNotPrinted: `occ -v image pull` from a registry
// that needs a login, with the token in a docker config.json: the pull
// works (the token was used) and the token appears nowhere in occ's
// output, its files or the container store's metadata.
func TestSecurityCredentialsNotPrinted(t *testing.T) {
	e := rtTestbed(t)
	const user, token = "robot", "tok-Zq8s3cr3t-7fPm2"
	srv := authRegistry(t, user, token)
	host := strings.TrimPrefix(srv.URL, "http://")
	src, err := name.ParseReference(rtAppImage(t, e), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(src)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.ParseReference(host+"/private/app:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img, remote.WithAuth(&authn.Basic{Username: user, Password: token})); err != nil {
		t.Fatalf("push to the auth registry: %v", err)
	}

	f := newCmdFixture(t, nil)
	// Without credentials: refused, with a hint, and nothing secret to leak.
	r := f.occ("-v", "image", "pull", host+"/private/app:1")
	if r.code == 0 || !strings.Contains(r.stderr, "log in") {
		t.Errorf("pull without credentials: %s", r)
	}
	dockerDir := t.TempDir()
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + token))}}})
	if err := os.WriteFile(filepath.Join(dockerDir, "config.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	f.env = append(f.env, "DOCKER_CONFIG="+dockerDir)
	r = f.occ("-v", "image", "pull", host+"/private/app:1")
	if r.code != 0 {
		t.Fatalf("pull with credentials: %s", r)
	}
	wantContains(t, "pull -v", r.stderr, "Pulled "+host+"/private/app:1")
	store := filepath.Join(os.Getenv("OCC_TESTBED_DIR"), "containerd", "root", "io.containerd.metadata.v1.bolt")
	secretNowhere(t, token, map[string]string{"stdout": r.stdout, "stderr": r.stderr}, f.base, store)
	secretNowhere(t, user+":"+token, nil, f.base)
}

// TestSecurityStartGateModesAndExposure: the binary refuses to start (or
// restart) a container nobody can log in to unless allowed, warns loudly
// when exposed, keeps its directories 0700 and files 0600 (tightening
// ones it finds wider), and a user's password reaches none of its files,
// the container's spec or the container store.
func TestSecurityStartGateModesAndExposure(t *testing.T) {
	const password = `Pw-"it's" $HOME ünï 9x7`
	f := newCmdFixture(t, nil)
	f.importImage(meta.Provenance{Source: meta.SourcePrebuilt, ImageVersion: meta.Version})
	for _, d := range []string{f.paths.ConfigDir(), f.paths.DataDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(f.paths.ConfigFile, 0o644)
	f.cfg.Users = nil
	f.saveConfig()
	add := f.command("-v", "user", "add", "alice")
	add.Stdin = strings.NewReader(password + "\n")
	out, err := add.CombinedOutput()
	if err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	outputs := map[string]string{"user add": string(out)}
	r := f.mustOK("-v", "start", "--no-update-check")
	outputs["start"] = r.stdout + r.stderr
	if strings.Contains(r.stderr, "Network exposure") {
		t.Errorf("a warning for a loopback bind: %s", r)
	}
	f.mustOK("stop")

	modes := map[string]os.FileMode{
		f.paths.ConfigDir(): 0o700, f.paths.DataDir: 0o700, f.paths.VolumesDir(): 0o700, f.paths.LogsDir(): 0o700,
		f.paths.ConfigFile: 0o600, f.paths.LockFile(): 0o600,
		filepath.Join(f.paths.LogsDir(), meta.ContainerName+".log"): 0o600,
	}
	if _, err := os.Stat(f.paths.StateFile()); err == nil {
		modes[f.paths.StateFile()] = 0o600
	}
	for p, want := range modes {
		st, err := os.Stat(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", p, got, want)
		}
	}

	// The password: not in any file occ keeps, the spec, the store, the output.
	nctx := f.client.WithNamespace(f.ctx)
	ctr, err := f.client.LoadContainer(nctx, meta.ContainerName)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ctr.Spec(nctx)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(sp)
	info, _ := ctr.Info(nctx)
	labels, _ := json.Marshal(info.Labels)
	outputs["container spec"], outputs["container labels"] = string(spec), string(labels)
	store := filepath.Join(os.Getenv("OCC_TESTBED_DIR"), "containerd", "root", "io.containerd.metadata.v1.bolt")
	secretNowhere(t, password, outputs, f.base, f.runDir, store)

	// No users: start and restart refuse, though the container exists.
	cfg, _, err := meta.LoadConfig(f.paths.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.cfg.Users = nil
	f.saveConfig()
	for _, args := range [][]string{{"start"}, {"restart"}} {
		if r := f.occ(args...); r.code == 0 || !strings.Contains(r.stderr, "Security not configured") {
			t.Errorf("occ %s with no users: %s", args[0], r)
		}
	}
	if r := f.occ("-q", "status"); r.code == 0 {
		t.Errorf("the container runs after refused starts: %s", r)
	}

	// Allowed explicitly and exposed: it starts, with the warning even under -q.
	f.cfg.AllowUnauthenticatedNetwork = true
	f.cfg.BindAddress = "0.0.0.0"
	f.saveConfig()
	r = f.mustOK("-q", "start", "--yes", "--no-update-check")
	wantContains(t, "exposed start", r.stderr, "WARNING: Network exposure enabled!", "0.0.0.0:"+strconv.Itoa(f.cfg.OpencodeWebPort), "WARNING: Network exposed with no login users")
	f.mustOK("stop")
}
