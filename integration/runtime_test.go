//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/runtime/restart"
	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// rtNamespace keeps the runtime tests' images and containers apart from
// the other suites'.
const rtNamespace = "occ-runtime-test"

const rtLocalImage = "opencode-cloud.local/sandbox:runtime-test"

var rtNetSeq atomic.Int32

// rtFixture is one sandbox under test with its own data dir, run dir, CNI
// bridge and subnet.
type rtFixture struct {
	t       testing.TB
	ctx     context.Context
	client  *runtime.Client
	cfg     *meta.Config
	paths   meta.Paths
	runDir  string
	netOpts runtime.NetworkOptions
	name    string
	sb      *runtime.Sandbox
}

func newRTFixture(t testing.TB, mutate func(*meta.Config)) *rtFixture {
	t.Helper()
	e := rtTestbed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	client, err := runtime.Connect(ctx, e.containerd, rtNamespace, "overlayfs")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	ref := rtAppImage(t, e)
	rtPull(client.WithNamespace(ctx), t, ctrd(t, client), ref, rtLocalImage)

	base, err := os.MkdirTemp("", "occ-rt-")
	if err != nil {
		t.Fatal(err)
	}
	seq := int(rtNetSeq.Add(1))
	slot := (os.Getpid() + seq*7) % 250
	f := &rtFixture{
		t: t, ctx: ctx, client: client,
		cfg:    meta.DefaultConfig(),
		paths:  meta.Paths{ConfigFile: filepath.Join(base, "config", "config.json"), DataDir: filepath.Join(base, "data")},
		runDir: filepath.Join(base, "run"),
		netOpts: runtime.NetworkOptions{
			Name:   fmt.Sprintf("occ-rt-%d", slot),
			Bridge: fmt.Sprintf("occrt%d", slot),
			Subnet: fmt.Sprintf("10.214.%d.0/24", slot),
		},
		name: fmt.Sprintf("occ-rt-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), seq),
	}
	if len(f.name) > 60 {
		f.name = f.name[:60]
	}
	f.cfg.OpencodeWebPort = rtFreePort(t)
	f.cfg.CNIPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	legConfig(t, f.cfg)
	if mutate != nil {
		mutate(f.cfg)
	}
	f.sb = f.newSandbox(client)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := f.sb.Remove(cctx, 2*time.Second); err != nil {
			t.Errorf("cleanup: remove %s: %v", f.name, err)
		}
		_ = exec.Command("ip", "link", "del", f.netOpts.Bridge).Run()
		if err := os.RemoveAll(base); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return f
}

// newSandbox makes a handle as a fresh occ process would.
func (f *rtFixture) newSandbox(c *runtime.Client) *runtime.Sandbox {
	sb, err := runtime.NewSandbox(c, runtime.SpecOptions{
		Config: f.cfg, Paths: f.paths, Image: rtLocalImage, Name: f.name, RunDir: f.runDir, Network: f.netOpts,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return sb
}

func (f *rtFixture) start() {
	f.t.Helper()
	if err := f.sb.Create(f.ctx); err != nil {
		f.t.Fatalf("create: %v", err)
	}
	if err := f.sb.Start(f.ctx); err != nil {
		f.t.Fatalf("start: %v", err)
	}
	if err := f.sb.WaitReady(f.ctx, runtime.ReadyOptions{}); err != nil {
		f.t.Fatalf("wait ready: %v", err)
	}
}

func (f *rtFixture) exec(stdin string, args ...string) (string, string, int) {
	f.t.Helper()
	var out, errb bytes.Buffer
	opts := runtime.ExecOptions{Args: args, Stdout: &out, Stderr: &errb}
	if stdin != "" {
		opts.Stdin = strings.NewReader(stdin)
	}
	code, err := f.sb.Exec(f.ctx, opts)
	if err != nil {
		f.t.Fatalf("exec %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (f *rtFixture) url(path string) string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(f.cfg.OpencodeWebPort)) + path
}

func rtFreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func rtGet(t testing.TB, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: HTTP %d: %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// rtOtherHostIP returns a non-loopback IPv4 address of this host, adding a
// dummy interface with a TEST-NET address when there is none.
func rtOtherHostIP(t testing.TB) string {
	t.Helper()
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !strings.HasPrefix(i.Name, "occrt") {
				return ipn.IP.String()
			}
		}
	}
	const dev, ip = "occrtdummy0", "192.0.2.213"
	for _, args := range [][]string{{"link", "add", dev, "type", "dummy"}, {"addr", "add", ip + "/32", "dev", dev}, {"link", "set", dev, "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", dev).Run() })
	return ip
}

// rtIptablesChains lists the iptables chains of every table.
func rtIptablesChains(t testing.TB) map[string]bool {
	t.Helper()
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	chains := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, ":") {
			chains[strings.Fields(l[1:])[0]] = true
		}
	}
	return chains
}

func rtIptablesText(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	return string(out)
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func rtEventually(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The main path: publish, reachability, status, env, mounts, volumes,
// exec, logs (captured and followed), restart labels, a stop and removal
// from a fresh handle (a later occ process), and nothing left behind.
func TestRuntimeSandboxLifecycle(t *testing.T) {
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "hello.txt"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := newRTFixture(t, func(c *meta.Config) {
		c.Mounts = []string{hostDir + ":/mnt/host:ro"}
		c.ContainerEnv = []string{"SHARED=config", "FROM_CONFIG=config", "OPENCODE_PORT=9999"}
	})
	chainsBefore := rtIptablesChains(t)
	f.start()

	t.Run("published on 127.0.0.1 and reachable", func(t *testing.T) {
		if got := rtGet(t, f.url("/")); !strings.Contains(got, "hello from /") {
			t.Fatalf("GET / = %q", got)
		}
		if h := f.sb.Health(f.ctx); h.State != runtime.Healthy {
			t.Fatalf("health = %v (%v)", h, h.Err)
		}
	})
	t.Run("not reachable on another host address", func(t *testing.T) {
		ip := rtOtherHostIP(t)
		addr := net.JoinHostPort(ip, strconv.Itoa(f.cfg.OpencodeWebPort))
		if conn, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			conn.Close()
			t.Fatalf("the port answers on %s although bind_address is 127.0.0.1", addr)
		}
	})
	t.Run("status", func(t *testing.T) {
		st, err := f.sb.Status(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		img, err := ctrd(t, f.client).GetImage(f.client.WithNamespace(f.ctx), rtLocalImage)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != runtime.StateRunning || st.Pid == 0 || st.StartedAt.IsZero() || st.ExitCode != nil {
			t.Fatalf("status = %+v", st)
		}
		if st.Image != rtLocalImage || st.ImageDigest != img.Target().Digest.String() {
			t.Fatalf("image %s %s, want %s %s", st.Image, st.ImageDigest, rtLocalImage, img.Target().Digest)
		}
		if want := "127.0.0.1:" + strconv.Itoa(f.cfg.OpencodeWebPort); st.Published != want || st.NetworkMode != meta.NetworkCNI {
			t.Fatalf("published %s (%s), want %s (cni)", st.Published, st.NetworkMode, want)
		}
		if f.client.HasRestartMonitor(f.ctx) {
			if st.Labels[restart.StatusLabel] != "running" || st.RestartPolicy != runtime.RestartPolicy {
				t.Fatalf("restart labels = %v", st.Labels)
			}
		}
		if d, err := f.sb.Differences(f.ctx); err != nil || len(d) != 0 {
			t.Fatalf("differences = %v, %v", d, err)
		}
		other := *f.cfg
		other.OpencodeWebPort++
		other.Mounts = nil
		sb, err := runtime.NewSandbox(f.client, runtime.SpecOptions{Config: &other, Paths: f.paths, Image: rtLocalImage, Name: f.name, RunDir: f.runDir, Network: f.netOpts})
		if err != nil {
			t.Fatal(err)
		}
		d, err := sb.Differences(f.ctx)
		if err != nil || len(d) != 2 || !strings.HasPrefix(d[0], "published on") || !strings.HasPrefix(d[1], "mounts") {
			t.Fatalf("differences after a config change = %q, %v", d, err)
		}
	})
	t.Run("create again", func(t *testing.T) {
		if err := f.sb.Create(f.ctx); !errdefs.IsAlreadyExists(err) {
			t.Fatalf("second create: %v", err)
		}
		if created, err := f.sb.Ensure(f.ctx); err != nil || created {
			t.Fatalf("ensure = %v, %v", created, err)
		}
		if err := f.sb.Start(f.ctx); err != nil {
			t.Fatalf("start while running: %v", err)
		}
	})
	t.Run("env order image, container_env, occ", func(t *testing.T) {
		out, _, code := f.exec("", "env")
		env := map[string]string{}
		for _, l := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				env[k] = v
			}
		}
		want := map[string]string{"FROM_IMAGE": "image", "SHARED": "config", "FROM_CONFIG": "config", "OPENCODE_PORT": "3000",
			"XDG_DATA_HOME": "/home/opencoder/.local/share"}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s=%q, want %q (exit %d)", k, env[k], v, code)
			}
		}
	})
	t.Run("exec as root with stdin and exit code", func(t *testing.T) {
		out, _, code := f.exec("s3cret\n", "sh", "-c", `read pw; echo "got:$pw"; id -u; exit 7`)
		if code != 7 || out != "got:s3cret\n0\n" {
			t.Fatalf("exec = %q, exit %d; want got:s3cret, 0, exit 7", out, code)
		}
		_, errOut, code := f.exec("", "sh", "-c", "echo oops >&2; exit 0")
		if code != 0 || errOut != "oops\n" {
			t.Fatalf("stderr %q exit %d", errOut, code)
		}
		if out, _, _ := f.exec("", "hostname"); strings.TrimSpace(out) != f.name {
			t.Fatalf("hostname %q, want %q", out, f.name)
		}
	})
	t.Run("mounts and volumes", func(t *testing.T) {
		if out, _, _ := f.exec("", "cat", "/mnt/host/hello.txt"); out != "from the host\n" {
			t.Fatalf("configured mount: %q", out)
		}
		if _, _, code := f.exec("", "touch", "/mnt/host/x"); code == 0 {
			t.Fatal("a :ro mount is writable")
		}
		out, _, _ := f.exec("", "stat", "-c", "%n %u:%g %a", "/home/opencoder/workspace", "/var/lib/opencode-users", "/home/opencoder/.ssh")
		want := "/home/opencoder/workspace 1000:1000 755\n/var/lib/opencode-users 0:0 700\n/home/opencoder/.ssh 1000:1000 700\n"
		if out != want {
			t.Fatalf("volume owners:\n%s\nwant\n%s", out, want)
		}
		for _, v := range runtime.Volumes {
			if _, err := os.Stat(filepath.Join(f.paths.VolumesDir(), v.Name)); err != nil {
				t.Errorf("volume %s: %v", v.Name, err)
			}
		}
	})
	t.Run("logs captured", func(t *testing.T) {
		var b bytes.Buffer
		if err := f.sb.Logs(f.ctx, runtime.LogOptions{}, &b); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"listening on 0.0.0.0:3000", "stderr: ready to serve"} {
			if !strings.Contains(b.String(), s) {
				t.Fatalf("log lacks %q:\n%s", s, b.String())
			}
		}
		lines, err := f.sb.LastLogLines(f.ctx, 1)
		if err != nil || len(lines) != 1 {
			t.Fatalf("tail 1 = %q, %v", lines, err)
		}
	})

	// Follow while running; the stop below ends the follow.
	var follow syncBuffer
	followCtx, stopFollow := context.WithCancel(f.ctx)
	defer stopFollow()
	followDone := make(chan error, 1)
	go func() { followDone <- f.sb.Logs(followCtx, runtime.LogOptions{Follow: true, Tail: 1}, &follow) }()
	marker := fmt.Sprintf("/marker-%d", time.Now().UnixNano())
	rtGet(t, f.url(marker))
	rtEventually(t, "the followed log to show the request", 15*time.Second, func() bool {
		return strings.Contains(follow.String(), "request "+marker)
	})

	// Stop and remove from a fresh client and handle, as a later occ would.
	c2, err := runtime.Connect(f.ctx, testutil.RequireTestbed(t).Containerd, rtNamespace, "overlayfs")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	later := f.newSandbox(c2)
	res, err := later.Stop(f.ctx, 10*time.Second)
	if err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !res.WasRunning || res.Killed || res.ExitCode != 0 {
		t.Fatalf("graceful stop = %+v, want exit 0 without SIGKILL", res)
	}
	select {
	case err := <-followDone:
		if err != nil {
			t.Fatalf("follow: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("following the log did not end after the container stopped")
	}
	if !strings.Contains(follow.String(), "got SIGTERM") {
		t.Fatalf("the followed log lacks the shutdown line:\n%s", follow.String())
	}
	st, err := later.Status(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != runtime.StateStopped || st.ExitCode == nil || *st.ExitCode != 0 {
		t.Fatalf("status after stop = %+v", st)
	}
	if f.client.HasRestartMonitor(f.ctx) {
		if st.Labels[restart.StatusLabel] != "stopped" || st.Labels[restart.ExplicitlyStoppedLabel] != "true" {
			t.Fatalf("restart labels after stop = %v", st.Labels)
		}
	}
	if _, err := later.Exec(f.ctx, runtime.ExecOptions{Args: []string{"true"}}); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("exec in a stopped container: %v", err)
	}
	if res, err := later.Stop(f.ctx, time.Second); err != nil || res.WasRunning {
		t.Fatalf("second stop = %+v, %v", res, err)
	}
	var after bytes.Buffer
	if err := later.Logs(f.ctx, runtime.LogOptions{}, &after); err != nil || !strings.Contains(after.String(), "request "+marker) {
		t.Fatalf("logs after stop: %v\n%s", err, after.String())
	}

	if err := later.Remove(f.ctx, 5*time.Second); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if ok, err := later.Exists(f.ctx); err != nil || ok {
		t.Fatalf("container still exists after remove (%v)", err)
	}
	rtAssertNoNetworkLeftovers(t, f, chainsBefore)
	if _, err := os.Stat(filepath.Join(f.paths.VolumesDir(), "opencode-workspace")); err != nil {
		t.Fatalf("remove touched the volumes: %v", err)
	}
}

// rtAssertNoNetworkLeftovers checks that nothing of the container's network
// is left: no netns file, no IPAM lease, no libcni cache entry, no
// iptables chain or rule of its own.
func rtAssertNoNetworkLeftovers(t testing.TB, f *rtFixture, chainsBefore map[string]bool) {
	t.Helper()
	if ents, err := os.ReadDir(filepath.Join(f.runDir, "netns")); err == nil && len(ents) > 0 {
		t.Errorf("netns files left: %v", ents)
	}
	// The store is the host's: only leases held for this container's
	// CNI id are its own.
	cniID := runtime.CNIID(f.client.Address, rtNamespace, f.name)
	ipam := filepath.Join(runtime.DefaultIPAMDir(f.paths), f.netOpts.Name)
	if ents, err := os.ReadDir(ipam); err == nil {
		for _, e := range ents {
			if b, _ := os.ReadFile(filepath.Join(ipam, e.Name())); net.ParseIP(e.Name()) != nil && strings.HasPrefix(string(b), cniID) {
				t.Errorf("IPAM lease left: %s", filepath.Join(ipam, e.Name()))
			}
		}
	}
	if ents, err := os.ReadDir("/var/lib/cni/results"); err == nil {
		for _, e := range ents {
			if strings.Contains(e.Name(), cniID) {
				t.Errorf("libcni cache entry left: %s", e.Name())
			}
		}
	}
	if txt := rtIptablesText(t); strings.Contains(txt, cniID) {
		t.Errorf("iptables still mentions %s", cniID)
	}
	// The plugins name a container's chains CNI-[XX-]<sha512(network name +
	// container ID), hex> cut to 28 characters (containernetworking/plugins
	// utils.FormatChainNameWithPrefix): only those are this sandbox's. Other
	// new CNI- chains belong to containers of other tests on the same host
	// (shared test machines run several testbeds at once).
	sum := sha512.Sum512([]byte(f.netOpts.Name + cniID))
	ours := hex.EncodeToString(sum[:])
	shared := map[string]bool{"CNI-HOSTPORT-DNAT": true, "CNI-HOSTPORT-SETMARK": true, "CNI-HOSTPORT-MASQ": true, "CNI-FORWARD": true, "CNI-ADMIN": true}
	for ch := range rtIptablesChains(t) {
		if chainsBefore[ch] || shared[ch] || !strings.HasPrefix(ch, "CNI-") {
			continue
		}
		if h := ch[strings.LastIndex(ch, "-")+1:]; len(h) >= 16 && strings.HasPrefix(ours, h) {
			t.Errorf("iptables chain left behind: %s", ch)
		} else {
			t.Logf("new iptables chain %s is not this sandbox's (another test's on this host)", ch)
		}
	}
}

func TestRuntimeStopEscalatesToSIGKILL(t *testing.T) {
	f := newRTFixture(t, func(c *meta.Config) { c.ContainerEnv = []string{"IGNORE_SIGTERM=1"} })
	f.start()
	res, err := f.sb.Stop(f.ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Killed || res.ExitCode != 128+uint32(syscall.SIGKILL) {
		t.Fatalf("stop = %+v, want SIGKILL (exit 137)", res)
	}
}

func TestRuntimeRecreateKeepsVolumeData(t *testing.T) {
	f := newRTFixture(t, nil)
	f.start()
	if _, _, code := f.exec("", "sh", "-c", "echo kept > /home/opencoder/workspace/keep.txt && echo user > /var/lib/opencode-users/u.json"); code != 0 {
		t.Fatal("write into volumes failed")
	}
	if err := f.sb.Recreate(f.ctx, 5*time.Second); err != nil {
		t.Fatalf("recreate: %v", err)
	}
	if err := f.sb.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.sb.WaitReady(f.ctx, runtime.ReadyOptions{}); err != nil {
		t.Fatal(err)
	}
	out, _, code := f.exec("", "cat", "/home/opencoder/workspace/keep.txt", "/var/lib/opencode-users/u.json")
	if code != 0 || out != "kept\nuser\n" {
		t.Fatalf("after recreate: %q (exit %d)", out, code)
	}
	if b, err := os.ReadFile(filepath.Join(f.paths.VolumesDir(), "opencode-workspace", "keep.txt")); err != nil || string(b) != "kept\n" {
		t.Fatalf("host side: %q %v", b, err)
	}
}

func TestRuntimePortInUseSuggestsNext(t *testing.T) {
	f := newRTFixture(t, nil)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(f.cfg.OpencodeWebPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := f.sb.Create(f.ctx); err != nil {
		t.Fatal(err)
	}
	err = f.sb.Start(f.ctx)
	var pe *runtime.PortInUseError
	if !errors.As(err, &pe) {
		t.Fatalf("start with the port taken: %v, want a PortInUseError", err)
	}
	if pe.Port != f.cfg.OpencodeWebPort || pe.Suggested <= pe.Port || !strings.Contains(err.Error(), fmt.Sprintf("try port %d", pe.Suggested)) {
		t.Fatalf("error %q (%+v)", err, pe)
	}
	if tryL, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(pe.Suggested))); err != nil {
		t.Fatalf("the suggested port %d is not free: %v", pe.Suggested, err)
	} else {
		tryL.Close()
	}
	if st, _ := f.sb.Status(f.ctx); st.State == runtime.StateRunning {
		t.Fatal("the container started anyway")
	}
	if ents, _ := os.ReadDir(filepath.Join(f.runDir, "netns")); len(ents) > 0 {
		t.Fatalf("a refused start left netns files: %v", ents)
	}
}

func TestRuntimeMissingMountRefusedBeforeCreate(t *testing.T) {
	f := newRTFixture(t, func(c *meta.Config) { c.Mounts = []string{"/nonexistent/occ-rt-missing:/data"} })
	err := f.sb.Create(f.ctx)
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("create with a missing mount source: %v", err)
	}
	if ok, _ := f.sb.Exists(f.ctx); ok {
		t.Fatal("the container was created")
	}
	if _, err := os.Stat(f.paths.VolumesDir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("volumes were created before the mount was checked: %v", err)
	}
	noImage, err := runtime.NewSandbox(f.client, runtime.SpecOptions{Config: meta.DefaultConfig(), Paths: f.paths, Image: "opencode-cloud.local/sandbox:absent", Name: f.name, RunDir: f.runDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := noImage.Create(f.ctx); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "pull or build") {
		t.Fatalf("create without the image: %v", err)
	}
	sn := ctrd(t, f.client).SnapshotService("overlayfs")
	if _, err := sn.Stat(f.client.WithNamespace(f.ctx), f.name+"-snapshot"); err == nil {
		t.Fatal("a snapshot was created")
	}
}

func TestRuntimeExitAtOnceFailsReadinessFast(t *testing.T) {
	f := newRTFixture(t, func(c *meta.Config) { c.ContainerEnv = []string{"EXIT_AT_ONCE=1"} })
	if err := f.sb.Create(f.ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.sb.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	err := f.sb.WaitReady(f.ctx, runtime.ReadyOptions{Timeout: runtime.ReadyTimeout})
	var nr *runtime.NotReadyError
	if !errors.As(err, &nr) {
		t.Fatalf("wait ready: %v, want NotReadyError", err)
	}
	if strings.Contains(nr.Reason, "did not become ready within") {
		t.Fatalf("readiness waited for the timeout instead of failing fast: %v", err)
	}
	if !strings.Contains(strings.Join(nr.LogLines, "\n"), "boom: the test app exits at once") {
		t.Fatalf("the error does not show the log lines: %v", err)
	}
}

func TestRuntimeHostNetwork(t *testing.T) {
	f := newRTFixture(t, func(c *meta.Config) { c.NetworkMode = meta.NetworkHost })
	f.start()
	if got := rtGet(t, f.url("/global/health")); !strings.Contains(got, `"healthy":true`) {
		t.Fatalf("health body %q", got)
	}
	st, err := f.sb.Status(f.ctx)
	if err != nil || st.NetworkMode != meta.NetworkHost || st.State != runtime.StateRunning {
		t.Fatalf("status %+v %v", st, err)
	}
	addr := net.JoinHostPort(rtOtherHostIP(t), strconv.Itoa(f.cfg.OpencodeWebPort))
	if conn, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		conn.Close()
		t.Fatalf("host network: the port answers on %s although bind_address is 127.0.0.1", addr)
	}
	if _, err := f.sb.Stop(f.ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if h := f.sb.Health(f.ctx); h.State != runtime.Starting {
		t.Fatalf("health of a stopped host-network sandbox = %v", h)
	}
}

// The restart monitor brings a crashed container back (when containerd has it).
func TestRuntimeRestartMonitorRestartsCrash(t *testing.T) {
	f := newRTFixture(t, nil)
	if !f.client.HasRestartMonitor(f.ctx) {
		t.Skip("containerd has no restart monitor plugin")
	}
	f.start()
	st, err := f.sb.Status(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(int(st.Pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rtEventually(t, "the restart monitor to restart the task", 60*time.Second, func() bool {
		s, err := f.sb.Status(f.ctx)
		return err == nil && s.State == runtime.StateRunning && s.Pid != st.Pid
	})
	if err := f.sb.WaitReady(f.ctx, runtime.ReadyOptions{}); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	// An explicit stop is not undone by the monitor: wait out more than
	// one of its 10 s reconcile rounds.
	if _, err := f.sb.Stop(f.ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(12 * time.Second)
	if st, err := f.sb.Status(f.ctx); err != nil || st.State != runtime.StateStopped {
		t.Fatalf("after an explicit stop and a monitor round: %+v, %v", st, err)
	}
}

// The control for the loopback-only checks: with bind_address 0.0.0.0 the
// same port does answer on the host's other address.
func TestRuntimeWildcardBindAnswersOnOtherAddress(t *testing.T) {
	f := newRTFixture(t, func(c *meta.Config) { c.BindAddress = "0.0.0.0" })
	f.start()
	url := "http://" + net.JoinHostPort(rtOtherHostIP(t), strconv.Itoa(f.cfg.OpencodeWebPort)) + "/"
	if got := rtGet(t, url); !strings.Contains(got, "hello from /") {
		t.Fatalf("GET %s = %q", url, got)
	}
}

// After a reboot the task and the network namespace are gone while the
// container record (and its labels) remain; the next Start must release
// the old CNI state and come up in a new namespace.
func TestRuntimeStartRepairsVanishedNetwork(t *testing.T) {
	f := newRTFixture(t, nil)
	chainsBefore := rtIptablesChains(t)
	f.start()
	ctx := f.client.WithNamespace(f.ctx)
	c, err := ctrd(t, f.client).LoadContainer(ctx, f.name)
	if err != nil {
		t.Fatal(err)
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldNS := labels[meta.LabelContainerNetNS]
	if oldNS == "" {
		t.Fatal("no netns label after start")
	}
	// Simulate the reboot: keep the restart monitor out of it, kill and
	// delete the task behind occ's back, and drop the namespace mount.
	if _, err := c.SetLabels(ctx, map[string]string{restart.StatusLabel: ""}); err != nil {
		t.Fatal(err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Unmount(oldNS, syscall.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(oldNS); err != nil {
		t.Fatal(err)
	}

	if err := f.sb.Start(f.ctx); err != nil {
		t.Fatalf("start after the namespace vanished: %v", err)
	}
	if err := f.sb.WaitReady(f.ctx, runtime.ReadyOptions{}); err != nil {
		t.Fatal(err)
	}
	rtGet(t, f.url("/"))
	labels, _ = c.Labels(ctx)
	if labels[meta.LabelContainerNetNS] == oldNS || labels[meta.LabelContainerNetNS] == "" {
		t.Fatalf("netns label %q (old %q)", labels[meta.LabelContainerNetNS], oldNS)
	}
	if err := f.sb.Remove(f.ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	rtAssertNoNetworkLeftovers(t, f, chainsBefore)
}
