//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/opencode-cloud/occ/internal/sectest"
	"github.com/opencode-cloud/occ/internal/testutil"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// A password as people type them: quotes, shell metacharacters, ':', '\',
// spaces and non-ASCII. It reaches PAM only as a hash occ made.
const alicePassword = `p@ss "w0rd" it's $HOME $(id) ` + "`id`" + `; a:b \ ünï`

type env struct {
	t        *testing.T
	ctx      context.Context
	occ      string   // the occ binary
	occEnv   []string // its environment: the throw-away config
	registry string
	paths    meta.Paths
	runDir   string   // the sandbox's volatile state (OCC_RUN_DIR for the occ binary)
	outputs  []string // everything the occ binary printed
}

// setup builds occ (once) and gives it a config of its own pointing at the
// testbed.
func setup(t *testing.T) *env {
	e := &env{t: t, registry: testutil.RequireTestbed(t).Registry}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	t.Cleanup(cancel)
	e.ctx = ctx

	dir, err := os.MkdirTemp("", "occ-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("OCC_E2E_KEEP") == "" {
			_ = os.RemoveAll(dir)
		}
	})
	e.occ = testutil.OccBinary(t)
	// Not under dir: a network namespace file may still be mounted there
	// when a failed test cleans up.
	if e.runDir, err = os.MkdirTemp("", "occ-e2e-run-"); err != nil {
		t.Fatal(err)
	}
	// The same variables decide where this process and the occ binary
	// look: meta.DefaultPaths reads them.
	in := testutil.NewInstall(t, dir)
	in.RunDir = e.runDir
	in.Setenv(t)
	e.occEnv = os.Environ()
	p, err := meta.DefaultPaths()
	if err != nil {
		t.Fatal(err)
	}
	e.paths = p
	return e
}

// run runs the occ binary with stdin and returns its exit code and output.
func (e *env) run(stdin string, args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	r := testutil.Run(e.ctx, e.t, e.occ, e.occEnv, stdin, 0, args...)
	e.outputs = append(e.outputs, "occ "+strings.Join(args, " ")+":\n"+r.Stdout+r.Stderr)
	return r.Code, r.Stdout, r.Stderr
}

// must runs occ and fails the test unless it succeeds. User commands run
// with -v, so that the log shows what the sandbox said when it applied them.
func (e *env) must(stdin string, args ...string) (stdout, stderr string) {
	e.t.Helper()
	if args[0] == "user" {
		args = append([]string{"-v"}, args...)
	}
	code, out, errOut := e.run(stdin, args...)
	if code != 0 {
		e.t.Fatalf("occ %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	if args[0] == "-v" {
		e.t.Logf("occ %s:\n%s", strings.Join(args, " "), strings.TrimSpace(errOut))
	}
	return out, errOut
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type gateway struct {
	t    *testing.T
	base string
	hc   *http.Client
}

// get requests path, with credentials when user is not empty, and returns
// the status and body.
func (g *gateway) get(path, user, password string) (int, http.Header, []byte) {
	g.t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.base+path, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		g.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, body
}

func (g *gateway) expect(want int, what, path, user, password string) {
	g.t.Helper()
	if got, _, body := g.get(path, user, password); got != want {
		g.t.Errorf("%s: GET %s answered %d, want %d; body: %.300s", what, path, got, want, body)
	}
}

func TestSandboxEndToEnd(t *testing.T) {
	e := setup(t)
	port := freePort(t)
	e.must("", "config", "set", "opencode_web_port", strconv.Itoa(port))
	e.must("", "config", "set", "cni_plugin_dirs", "/usr/lib/cni,/opt/cni/bin")
	// This test logs in again after every account change (each empties the
	// gateway's login cache): more checks a minute than the default limit
	// of 5 per address allows. The limits are TestGatewayHardening's.
	e.must("", "config", "set", "rate_limit_attempts", "1000")

	// 1. The sandbox image, built with occ's own build code (once for all
	// tests: shared_test.go) into occ's default namespace, which this
	// test's config uses.
	img := theSandboxImage(t)
	t.Logf("occ image build (shared): %s", img.BuildTime.Round(time.Second))

	// 2. Run it with pkg/runtime as occ start will: the CNI network (a
	// bridge and subnet of the test's own), published on a random
	// 127.0.0.1 port.
	cfg, _, err := meta.LoadConfig(e.paths.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	client, err := runtime.Connect(e.ctx, cfg.ContainerdAddress(), cfg.ContainerdNamespace, cfg.Snapshotter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() }) // after the sandbox's cleanup below
	runDir := e.runDir
	slot := os.Getpid() % 200
	sb, err := runtime.NewSandbox(client, runtime.SpecOptions{
		Config: cfg, Paths: e.paths,
		RunDir: runDir,
		// The occ binary is the container's logging binary, as with occ start.
		LogDriver: e.occ,
		Network: runtime.NetworkOptions{Name: fmt.Sprintf("occ-e2e-%d", slot), Bridge: fmt.Sprintf("occe2e%d", slot),
			Subnet: fmt.Sprintf("10.215.%d.0/24", slot)},
		// No internet here: opencode must not wait for models.dev.
		ExtraEnv: []string{"OPENCODE_CLOUD_OFFLINE=1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Remove(e.ctx, 5*time.Second); err != nil { // a leftover of an interrupted run
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if t.Failed() {
			if lines, err := sb.LastLogLines(cctx, 60); err == nil {
				t.Logf("sandbox log:\n%s", strings.Join(lines, "\n"))
			}
		}
		if os.Getenv("OCC_E2E_KEEP") != "" {
			t.Logf("OCC_E2E_KEEP: left the sandbox running; config %s, data %s, run dir %s", e.paths.ConfigFile, e.paths.DataDir, runDir)
			return
		}
		if err := sb.Remove(cctx, 5*time.Second); err != nil {
			t.Errorf("cleanup: remove the sandbox: %v", err)
		}
		_ = exec.Command("ip", "link", "del", fmt.Sprintf("occe2e%d", slot)).Run()
		if err := os.RemoveAll(runDir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	startSandbox := func(what string) {
		t.Helper()
		t0 := time.Now()
		if _, err := sb.Ensure(e.ctx); err != nil {
			t.Fatalf("%s: create: %v", what, err)
		}
		if err := sb.Start(e.ctx); err != nil {
			t.Fatalf("%s: start: %v", what, err)
		}
		if err := sb.WaitReady(e.ctx, runtime.ReadyOptions{Timeout: 3 * time.Minute}); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%s: ready in %s", what, time.Since(t0).Round(100*time.Millisecond))
	}

	// 3. The sandbox has no users yet; they can be added before it starts.
	startSandbox("first start")
	st, err := sb.Status(e.ctx)
	if err != nil || st.State != runtime.StateRunning || st.NetworkMode != meta.NetworkCNI {
		t.Fatalf("status: %+v %v", st, err)
	}
	// A new connection per request: a user change reloads the gateway, and
	// what it promises is that new connections see the change at once (an
	// idle keep-alive connection to an old nginx worker may still answer
	// from the old worker's login cache for a moment).
	g := &gateway{t: t, base: "http://" + runtime.ProbeAddress(st.Published), hc: &http.Client{
		Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	if want := net.JoinHostPort("127.0.0.1", strconv.Itoa(port)); st.Published != want {
		t.Fatalf("published on %s, want %s", st.Published, want)
	}

	code, _, body := g.get("/global/health", "", "")
	var health struct {
		Healthy bool `json:"healthy"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &health) != nil || !health.Healthy {
		t.Fatalf("GET /global/health without credentials: %d %s", code, body)
	}
	code, hdr, _ := g.get("/", "", "")
	if code != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("GET / without credentials: %d (WWW-Authenticate %q), want 401 asking for Basic", code, hdr.Get("WWW-Authenticate"))
	}
	g.expect(http.StatusUnauthorized, "no users yet", "/", "alice", alicePassword)

	// Security (docs/reliability.md): without a login the gateway answers
	// nothing but the health check; the real sandbox's container has
	// exactly the capabilities it needs, no_new_privs and namespaces of its
	// own. (Every login below working proves it needs no more.)
	gatewayRefusesAnonymous(t, runtime.ProbeAddress(st.Published), "no users yet")
	nctx := client.WithNamespace(e.ctx)
	ctr, err := ctrd(t, client).LoadContainer(nctx, sb.Name())
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ctr.Spec(nctx)
	if err != nil {
		t.Fatal(err)
	}
	sectest.CheckSandboxSpec(t, sp, e.paths.DataDir, cfg.Mounts)
	if task, err := ctr.Task(nctx, nil); err != nil {
		t.Fatal(err)
	} else {
		sectest.CheckTaskIsolation(t, task.Pid(), false)
		sectest.CheckTaskLimits(t, task.Pid(), sp)
	}

	// 4. occ user add alice, the password on stdin: applied at once.
	_, errOut := e.must(alicePassword+"\n", "user", "add", "alice")
	if strings.Contains(errOut, "next starts") {
		t.Errorf("user add with the sandbox running says it waits for the next start: %s", errOut)
	}
	g.expect(http.StatusOK, "alice after occ user add", "/", "alice", alicePassword)
	g.expect(http.StatusUnauthorized, "alice with a wrong password", "/", "alice", alicePassword+"x")
	g.expect(http.StatusUnauthorized, "a user without a record", "/", "mallory", alicePassword)
	gatewayRefusesAnonymous(t, runtime.ProbeAddress(st.Published), "with a user")

	// 5. opencode itself answers through the gateway: its API, not a page.
	code, hdr, body = g.get("/config", "alice", alicePassword)
	var ocConfig map[string]any
	if code != http.StatusOK || !strings.Contains(hdr.Get("Content-Type"), "json") || json.Unmarshal(body, &ocConfig) != nil {
		t.Errorf("GET /config as alice: %d %q %.300s, want opencode's config as JSON", code, hdr.Get("Content-Type"), body)
	}
	code, _, body = g.get("/session", "alice", alicePassword)
	var sessions []any
	if code != http.StatusOK || json.Unmarshal(body, &sessions) != nil {
		t.Errorf("GET /session as alice: %d %.300s, want a JSON array", code, body)
	}

	// 6. occ user disable: refused at once (the gateway's login cache is
	// flushed); enable lets her in again.
	e.must("", "user", "disable", "alice")
	g.expect(http.StatusUnauthorized, "alice after occ user disable", "/", "alice", alicePassword)
	if out, _ := e.must("", "user", "list"); !strings.Contains(out, "alice") || !strings.Contains(out, "disabled") {
		t.Errorf("occ user list after disable:\n%s", out)
	}
	e.must("", "user", "enable", "alice")
	g.expect(http.StatusOK, "alice after occ user enable", "/", "alice", alicePassword)

	// 7. A recreate keeps alice; bob, added while the container is not
	// running, can log in once it starts.
	if err := sb.Recreate(e.ctx, 10*time.Second); err != nil {
		t.Fatalf("recreate: %v", err)
	}
	if _, errOut := e.must("bob-secret\n", "user", "add", "bob"); !strings.Contains(errOut, "next starts") {
		t.Errorf("user add with the sandbox stopped does not say it waits for the next start: %s", errOut)
	}
	startSandbox("start after recreate")
	g.expect(http.StatusOK, "alice after a recreate", "/", "alice", alicePassword)
	g.expect(http.StatusOK, "bob, added while the sandbox was not running", "/", "bob", "bob-secret")
	g.expect(http.StatusOK, "opencode's API after a recreate", "/config", "alice", alicePassword)

	// 8. occ user remove: gone at once; the config's list follows.
	e.must("", "user", "remove", "bob", "--force")
	g.expect(http.StatusUnauthorized, "bob after occ user remove", "/", "bob", "bob-secret")
	if out, _ := e.must("", "config", "get", "users"); strings.TrimSpace(out) != "alice" {
		t.Errorf("config users = %q, want alice", out)
	}
	if code, _, errOut := e.run("", "user", "remove", "alice"); code == 0 || !strings.Contains(errOut, "last user") {
		t.Errorf("removing the last user without --force: exit %d, %s", code, errOut)
	}

	// 9. occ update keeps users and volume data. The container moves to
	// host networking (the real binary would otherwise use the shared occ0
	// bridge), opencode's loopback port is one of our own, and a second
	// image, the built one with one more label (same layers, so nothing
	// to build or unpack), is recorded as previous. occ update --rollback
	// then runs the update's recreate path on the real sandbox: the
	// entrypoint must restore alice from her record, and the workspace
	// must still hold what it held.
	e.must("", "config", "set", "network_mode", "host")
	e.must(strconv.Itoa(freePort(t))+"\n", "config", "env", "set", "OPENCODE_INTERNAL_PORT")
	e.must("1\n", "config", "env", "set", "OPENCODE_CLOUD_OFFLINE")
	if err := sb.Remove(e.ctx, 10*time.Second); err != nil {
		t.Fatalf("remove the CNI sandbox: %v", err)
	}
	e.must("", "start")
	g.expect(http.StatusOK, "alice after occ start (host network)", "/", "alice", alicePassword)
	keep := filepath.Join(e.paths.VolumesDir(), "opencode-workspace", "keep-across-update.txt")
	if err := os.WriteFile(keep, []byte("still here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	built, derived := deriveImage(t, e.ctx, client)
	if code, _, errOut := e.run("", "update", "--rollback"); code == 0 || !strings.Contains(errOut, "--yes") {
		t.Errorf("occ update --rollback off a terminal without --yes: exit %d, %s", code, errOut)
	}
	for i, want := range []string{derived, built} {
		start := time.Now()
		_, errOut := e.must("", "update", "--rollback", "--yes")
		t.Logf("occ update --rollback #%d: %s", i+1, time.Since(start).Round(100*time.Millisecond))
		if !strings.Contains(errOut, "Rolled back to v"+meta.Version+" ("+want) {
			t.Errorf("occ update --rollback #%d: %s", i+1, errOut)
		}
		st, err := sb.Status(e.ctx)
		if err != nil || st.State != runtime.StateRunning || st.Labels[meta.LabelContainerImageDigest] != want {
			t.Fatalf("after occ update --rollback #%d: %+v %v, want running %s", i+1, st, err, want)
		}
		g.expect(http.StatusOK, "alice after an image change", "/", "alice", alicePassword)
		g.expect(http.StatusUnauthorized, "bob (removed) after an image change", "/", "bob", "bob-secret")
		g.expect(http.StatusOK, "opencode's API after an image change", "/config", "alice", alicePassword)
		var out bytes.Buffer
		if code, err := sb.Exec(e.ctx, runtime.ExecOptions{Args: []string{"cat", "/home/opencoder/workspace/keep-across-update.txt"}, Stdout: &out}); err != nil || code != 0 || out.String() != "still here\n" {
			t.Errorf("the workspace after an image change: exit %d %v %q", code, err, out.String())
		}
	}
	if out, _ := e.must("", "status"); !strings.Contains(out, "built from source") {
		t.Errorf("occ status after the image changes:\n%s", out)
	}

	// 10. alice's password is in nothing occ printed (user commands ran
	// with -v), wrote, or gave containerd: not the container's spec (env,
	// args), not the config, state, logs or volumes (only a hash), not the
	// container store.
	sp, err = ctr.Spec(nctx)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(sp)
	texts := map[string]string{"the container spec": string(spec)}
	for i, o := range e.outputs {
		texts[fmt.Sprintf("occ output %d", i)] = o
	}
	sectest.SecretNowhere(t, alicePassword, texts, e.paths.ConfigDir(), e.paths.DataDir, e.runDir,
		filepath.Join(testutil.RequireTestbed(t).Dir, "containerd", "root", "io.containerd.metadata.v1.bolt"))
}

// gatewayRefusesAnonymous sends requests without credentials, as raw HTTP
// so that the paths reach the gateway exactly as written (traversals and
// encodings included): every one but the health check is refused.
func gatewayRefusesAnonymous(t *testing.T, addr, when string) {
	t.Helper()
	tests := []struct {
		method, path string
		header       string
		want         int
	}{
		{"GET", "/global/health", "", http.StatusOK},
		{"GET", "/x/..%2Fglobal/health", "", http.StatusOK}, // normalized to the health check; opencode gets /global/health
		{"GET", "//global/health", "", http.StatusOK},
		{"POST", "/global/health", "", http.StatusForbidden},
		{"GET", "/", "", http.StatusUnauthorized},
		{"GET", "/api", "", http.StatusUnauthorized},
		{"GET", "/ws", "", http.StatusUnauthorized},
		{"GET", "/event", "", http.StatusUnauthorized},
		{"GET", "/global/event", "", http.StatusUnauthorized},
		{"GET", "/session", "", http.StatusUnauthorized},
		{"GET", "/config", "", http.StatusUnauthorized},
		{"GET", "/pty", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", http.StatusUnauthorized},
		{"PUT", "/session", "", http.StatusUnauthorized},
		{"DELETE", "/session/x", "", http.StatusUnauthorized},
		{"OPTIONS", "/", "", http.StatusUnauthorized},
		{"GET", "/global/health/", "", http.StatusUnauthorized},
		{"GET", "/global/healthz", "", http.StatusUnauthorized},
		{"GET", "/global/health/../session", "", http.StatusUnauthorized},
		{"GET", "/global/health/..%2fsession", "", http.StatusUnauthorized},
		{"GET", "/global/health%2f..%2fsession", "", http.StatusUnauthorized},
		{"GET", "/global/health;/session", "", http.StatusUnauthorized},
		{"GET", "/global/health%00", "", http.StatusBadRequest},
		{"GET", "/GLOBAL/HEALTH", "", http.StatusUnauthorized},
		{"GET", "/%2e%2e/", "", http.StatusBadRequest},
		{"GET", "/../", "", http.StatusBadRequest},
		{"GET", "/..", "", http.StatusBadRequest},
		{"GET", "/_occ/auth", "", http.StatusNotFound}, // internal: not reachable from outside
		{"GET", "/check", "", http.StatusUnauthorized},
		{"GET", "/session", "Authorization: Basic \r\n", http.StatusUnauthorized},
		{"GET", "/session", "Authorization: Bearer x\r\n", http.StatusUnauthorized},
		{"GET", "/session", "X-Forwarded-User: alice\r\nX-Remote-User: alice\r\n", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n", tc.method, tc.path, addr, tc.header)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Errorf("%s: %s %s: %v", when, tc.method, tc.path, err)
			conn.Close()
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		conn.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s %s without a login answered %d, want %d; body %.200s", when, tc.method, tc.path, resp.StatusCode, tc.want, body)
		}
		if tc.want == http.StatusOK && !strings.Contains(string(body), "healthy") {
			t.Errorf("%s: %s %s: not the health answer: %.200s", when, tc.method, tc.path, body)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// deriveImage records, as the previous sandbox image, the current one with
// one more config label: the same layers (already unpacked), another
// digest. It returns the digests of both.
// ctrd is a containerd client of its own on rt's socket and namespace, for
// what the tests look at below occ's runtime API (containers, leases):
// runtime.Client keeps its containerd client to itself. It is closed when
// the test ends.
func ctrd(t testing.TB, rt *runtime.Client) *containerd.Client {
	t.Helper()
	c, err := containerd.New(rt.Address, containerd.WithDefaultNamespace(rt.Namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("connect to containerd at %s: %v", rt.Address, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func deriveImage(t *testing.T, ctx context.Context, client *runtime.Client) (current, derived string) {
	t.Helper()
	ctx, done, err := ctrd(t, client).WithLease(client.WithNamespace(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = done(context.WithoutCancel(ctx)) }()
	cs := client.ContentStore()
	img, err := client.ImageService().Get(ctx, meta.CurrentImageName)
	if err != nil {
		t.Fatal(err)
	}
	m, err := images.Manifest(ctx, cs, img.Target, platforms.Default())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := content.ReadBlob(ctx, cs, m.Config)
	if err != nil {
		t.Fatal(err)
	}
	var ic ocispec.Image
	if err := json.Unmarshal(raw, &ic); err != nil {
		t.Fatal(err)
	}
	if ic.Config.Labels == nil {
		ic.Config.Labels = map[string]string{}
	}
	ic.Config.Labels["org.opencode-cloud.e2e-derived"] = "1"
	write := func(v any, mediaType string, labels map[string]string) ocispec.Descriptor {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := content.WriteBlob(ctx, cs, d.Digest.String(), bytes.NewReader(b), d, content.WithLabels(labels)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cfgInfo, err := cs.Info(ctx, m.Config.Digest)
	if err != nil {
		t.Fatal(err)
	}
	m.Config = write(ic, m.Config.MediaType, cfgInfo.Labels) // keeps the snapshot reference
	refs := map[string]string{"containerd.io/gc.ref.content.config": m.Config.Digest.String()}
	for i, l := range m.Layers {
		refs[fmt.Sprintf("containerd.io/gc.ref.content.l.%d", i)] = l.Digest.String()
	}
	mt := m.MediaType
	if mt == "" {
		mt = ocispec.MediaTypeImageManifest
	}
	target := write(m, mt, refs)
	p, ok := meta.ProvenanceFromLabels(img.Labels)
	if !ok {
		t.Fatalf("the built image has no provenance labels: %v", img.Labels)
	}
	p.ManifestDigest, p.AcquiredAt = target.Digest.String(), time.Now().UTC()
	if _, err := client.ImageService().Create(ctx, images.Image{Name: meta.PreviousImageName, Target: target, Labels: p.Labels()}); err != nil {
		t.Fatal(err)
	}
	return img.Target.Digest.String(), target.Digest.String()
}
