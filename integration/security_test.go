//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/opencode-cloud/occ/internal/sectest"
	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// The security review's items that need the real daemons and the real
// binary (docs/reliability.md lists which test proves which item).

// TestSecurityContainerIsolation: the sandbox in cni mode, with a
// configured mount, inspected in containerd and on the host.
func TestSecurityContainerIsolation(t *testing.T) {
	host := t.TempDir()
	mount := host + ":/mnt/host:ro"
	f := newRTFixture(t, func(c *meta.Config) { c.Mounts = []string{mount} })
	f.start()
	nctx := f.client.WithNamespace(f.ctx)
	ctr, err := ctrd(t, f.client).LoadContainer(nctx, f.name)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ctr.Spec(nctx)
	if err != nil {
		t.Fatal(err)
	}
	sectest.CheckSandboxSpec(t, sp, f.paths.DataDir, []string{mount})
	task, err := ctr.Task(nctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	sectest.CheckTaskIsolation(t, task.Pid(), false)
	sectest.CheckTaskLimits(t, task.Pid(), sp)

	// Another host user (uid 1000: the sandbox's opencoder without a user
	// namespace) reaches neither the container's root process nor a
	// process of the container's uid 1000.
	sectest.HostUserCannotReach(t, int(task.Pid()))
	// An exec into the user namespace works (runc 1.1.5 fails it: setns).
	if out, errOut, code := f.exec("", "id"); code != 0 {
		t.Fatalf("exec id as root: %d %s %s", code, out, errOut)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var errb bytes.Buffer
		if code, err := f.sb.Exec(f.ctx, runtime.ExecOptions{Args: []string{"sleep", "30"}, UID: 1000, GID: 1000, Stderr: &errb}); err != nil || (code != 0 && code != 137) {
			t.Errorf("exec sleep as uid 1000: %d %v %s", code, err, errb.String())
		}
	}()
	var agent int
	rtEventually(t, "the uid-1000 process in the sandbox", 10*time.Second, func() bool {
		agent = hostPidOf(t, task.Pid(), "sleep")
		return agent != 0
	})
	uid := procUID(t, agent)
	if uid != int(meta.DefaultUserNSBase)+1000 {
		t.Errorf("the sandbox's uid 1000 is host uid %d, want %d", uid, meta.DefaultUserNSBase+1000)
	}
	sectest.HostUserCannotReach(t, agent)
	_ = syscall.Kill(agent, syscall.SIGKILL)
	<-done

	// The volumes are owned by the sandbox's ids on the host, not by host users.
	for _, v := range runtime.Volumes {
		st, err := os.Stat(filepath.Join(f.paths.VolumesDir(), v.Name))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := int(st.Sys().(*syscall.Stat_t).Uid), meta.DefaultUserNSBase+v.UID; got != want {
			t.Errorf("volume %s owned by host uid %d, want %d", v.Name, got, want)
		}
	}
}

// hostPidOf finds the host pid of a process named comm in the pid
// namespace of the task whose host pid is init.
func hostPidOf(t testing.TB, init uint32, comm string) int {
	t.Helper()
	want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", init))
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err != nil || ns != want {
			continue
		}
		if c, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(c)) == comm {
			return pid
		}
	}
	return 0
}

// procUID is the real uid of host process pid.
func procUID(t testing.TB, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("no Uid in /proc/%d/status", pid)
	return 0
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
	store := filepath.Join(testutil.RequireTestbed(t).Dir, "containerd", "root", "io.containerd.metadata.v1.bolt")
	sectest.SecretNowhere(t, token, map[string]string{"stdout": r.stdout, "stderr": r.stderr}, f.base, store)
	sectest.SecretNowhere(t, user+":"+token, nil, f.base)
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
	// The fixture's record for alice goes: occ user add makes her here.
	if err := runtime.RemoveUserRecord(filepath.Join(f.paths.VolumesDir(), runtime.UsersVolume), "alice"); err != nil {
		t.Fatal(err)
	}
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
	ctr, err := ctrd(t, f.client).LoadContainer(nctx, meta.ContainerName)
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
	store := filepath.Join(testutil.RequireTestbed(t).Dir, "containerd", "root", "io.containerd.metadata.v1.bolt")
	sectest.SecretNowhere(t, password, outputs, f.base, f.runDir, store)

	// The gate counts the user records, not the config's list: with the
	// list emptied (as `occ config reset --force` leaves it) alice's record
	// still logs in, so start is allowed.
	cfg, _, err := meta.LoadConfig(f.paths.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.cfg.Users = nil
	f.saveConfig()
	f.mustOK("start", "--no-update-check")
	f.mustOK("stop")
	// Only disabled users: nobody could log in; start and restart refuse,
	// though the container exists, and say which user to enable.
	f.mustOK("user", "disable", "alice")
	for _, args := range [][]string{{"start"}, {"restart"}} {
		if r := f.occ(args...); r.code == 0 || !strings.Contains(r.stderr, "every user is disabled (alice)") || !strings.Contains(r.stderr, "occ user enable alice") {
			t.Errorf("occ %s with only a disabled user: %s", args[0], r)
		}
	}
	// No users at all.
	f.mustOK("user", "remove", "alice", "--force")
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

// TestSecurityUserMountIdmapped: with the user namespace, a configured
// mount of a directory host uid 1000 owns is idmapped: its files are
// opencoder's in the sandbox, what opencoder writes there is uid 1000's on
// the host, and the sandbox's root cannot write there as any host user.
func TestSecurityUserMountIdmapped(t *testing.T) {
	proj := filepath.Join(t.TempDir(), "proj")
	if err := os.Mkdir(proj, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "mine.txt"), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{proj, filepath.Join(proj, "mine.txt")} {
		if err := os.Lchown(p, 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	f := newRTFixture(t, func(c *meta.Config) { c.Mounts = []string{proj + ":/mnt/proj"} })
	f.start()
	run := func(uid uint32, script string) (string, int) {
		var out, errb bytes.Buffer
		code, err := f.sb.Exec(f.ctx, runtime.ExecOptions{Args: []string{"sh", "-c", script}, UID: uid, GID: uid, Stdout: &out, Stderr: &errb})
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out.String() + errb.String()), code
	}
	if out, code := run(1000, "stat -c %u:%g /mnt/proj/mine.txt && echo agent >> /mnt/proj/mine.txt && echo new > /mnt/proj/new.txt"); code != 0 || out != "1000:1000" {
		t.Errorf("opencoder in the sandbox on the host user's mount: %d %q (want the files its own, and writable)", code, out)
	}
	for _, name := range []string{"mine.txt", "new.txt"} {
		st, err := os.Stat(filepath.Join(proj, name))
		if err != nil {
			t.Fatal(err)
		}
		if sys := st.Sys().(*syscall.Stat_t); sys.Uid != 1000 || sys.Gid != 1000 {
			t.Errorf("%s on the host: owner %d:%d, want the mount owner's 1000:1000", name, sys.Uid, sys.Gid)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(proj, "mine.txt")); string(data) != "host\nagent\n" {
		t.Errorf("mine.txt: %q", data)
	}
	if out, code := run(0, "echo root > /mnt/proj/root.txt"); code == 0 {
		t.Errorf("the sandbox's root wrote into the host user's mount: %q", out)
	}
	if _, err := os.Stat(filepath.Join(proj, "root.txt")); err == nil {
		t.Error("root.txt exists on the host")
	}
}

// TestSecurityUserNSChownedRootfs: on a snapshotter without idmapped
// layers (native here; containerd 1.6/1.7's overlayfs alike) the user
// namespace gets a copy of the image chowned into the range: the image's
// root-owned files are root's inside, and the sandbox runs and execs.
func TestSecurityUserNSChownedRootfs(t *testing.T) {
	// Connected first, so that it is closed after the fixture's cleanup.
	native, err := runtime.Connect(context.Background(), rtTestbed(t).containerd, "occ-runtime-test-native", "native")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { native.Close() })
	f := newRTFixture(t, nil)
	rtPull(native.WithNamespace(f.ctx), t, ctrd(t, native), rtAppImage(t, rtTestbed(t)), rtLocalImage)
	f.sb = f.newSandbox(native)
	f.start()
	iso, err := f.sb.IsolationInForce(f.ctx)
	if err != nil || !iso.UserNS || iso.Rootfs != "chowned" {
		t.Fatalf("isolation in force: %+v %v", iso, err)
	}
	if out, errOut, code := f.exec("", "stat", "-c", "%u:%g", "/bin/busybox", "/etc/passwd"); code != 0 || out != "0:0\n0:0\n" {
		t.Errorf("the image's root files inside: %d %q %s (want 0:0, chowned into the range)", code, out, errOut)
	}
	if out := rtGet(t, f.url("/chowned")); !strings.Contains(out, "hello from /chowned") {
		t.Errorf("the sandbox on a chowned rootfs: %q", out)
	}
}
