//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// TestGatewayHardening runs the real sandbox with host directories mounted
// and the gateway's limits configured, and checks what the gateway and the
// entrypoint promise (docs/security.md):
//   - a mounted host project keeps its owner and mode, a read-only mount
//     starts;
//   - an anonymous health check reaches opencode as one fixed request:
//     nothing of the client's query string or headers;
//   - rate_limit_attempts per address and 4x per user name, the address
//     from X-Forwarded-For only from a trusted proxy, and a user who logged
//     in before is never locked out by them;
//   - an unknown name is refused as slowly as a known one with a wrong
//     password;
//   - an account change keeps the other users' open streams and refuses
//     the changed user at once.
func TestGatewayHardening(t *testing.T) {
	e := setup(t)
	port := freePort(t)
	// A host project owned by someone else, with a mode of its own, and a
	// read-only directory on a path the entrypoint used to chmod.
	project := filepath.Join(t.TempDir(), "project")
	readOnly := filepath.Join(t.TempDir(), "keys")
	// The project's mode lets opencode (opencoder, another uid) work in
	// it, as a project shared with it would.
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{project, 0o777}, {readOnly, 0o750}} {
		if err := os.Mkdir(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(project, "main.go"), []byte("package main\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{project, filepath.Join(project, "main.go")} {
		if err := os.Chown(p, 4242, 4343); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range [][2]string{
		{"opencode_web_port", strconv.Itoa(port)},
		{"cni_plugin_dirs", "/usr/lib/cni,/opt/cni/bin"},
		{"rate_limit_attempts", "3"},
		{"rate_limit_window_seconds", "60"},
		{"trust_proxy", "true"},
		{"mounts", project + ":/home/opencoder/workspace," + readOnly + ":/home/opencoder/.ssh:ro"},
	} {
		e.must("", "config", "set", kv[0], kv[1])
	}
	theSandboxImage(t)
	cfg, _, err := meta.LoadConfig(e.paths.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	client, err := runtime.Connect(e.ctx, cfg.ContainerdAddress(), cfg.ContainerdNamespace, cfg.Snapshotter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	slot := (os.Getpid() + 100) % 200
	sb, err := runtime.NewSandbox(client, runtime.SpecOptions{
		Config: cfg, Paths: e.paths, RunDir: e.runDir,
		Network: runtime.NetworkOptions{Name: fmt.Sprintf("occ-e2e-gw-%d", slot), Bridge: fmt.Sprintf("occe2eg%d", slot),
			Subnet: fmt.Sprintf("10.217.%d.0/24", slot)},
		// A short login cache, so that a cached login expires within the
		// test and the stale-on-limit rule is what keeps alice in.
		ExtraEnv: []string{"OPENCODE_CLOUD_OFFLINE=1", "OPENCODE_CLOUD_AUTH_CACHE=2s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Remove(e.ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if t.Failed() {
			if lines, err := sb.LastLogLines(cctx, 80); err == nil {
				t.Logf("sandbox log:\n%s", strings.Join(lines, "\n"))
			}
		}
		if err := sb.Remove(cctx, 5*time.Second); err != nil {
			t.Errorf("cleanup: remove the sandbox: %v", err)
		}
		_ = exec.Command("ip", "link", "del", fmt.Sprintf("occe2eg%d", slot)).Run()
	})
	t0 := time.Now()
	if _, err := sb.Ensure(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := sb.WaitReady(e.ctx, runtime.ReadyOptions{Timeout: 3 * time.Minute}); err != nil {
		t.Fatalf("the sandbox with a project and a read-only mount did not start: %v", err)
	}
	t.Logf("ready in %s", time.Since(t0).Round(100*time.Millisecond))
	st, err := sb.Status(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	addr := runtime.ProbeAddress(st.Published)

	// Mounted host directories are the user's: owner and mode unchanged.
	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{project, 0o777}, {filepath.Join(project, "main.go"), 0o640}} {
		fi, err := os.Stat(p.path)
		if err != nil {
			t.Fatal(err)
		}
		sys := fi.Sys().(*syscall.Stat_t)
		if sys.Uid != 4242 || sys.Gid != 4343 || fi.Mode().Perm() != p.mode {
			t.Errorf("the mounted %s is now %d:%d %v, want 4242:4343 %v as the user left it", p.path, sys.Uid, sys.Gid, fi.Mode().Perm(), p.mode)
		}
	}
	if fi, err := os.Stat(readOnly); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("the read-only mount: %v %v, want mode 0750 unchanged", fi, err)
	}

	e.must("alice-secret\n", "user", "add", "alice")
	e.must("bob-secret\n", "user", "add", "bob")

	t.Run("health is a fixed request", func(t *testing.T) { healthIsFixed(t, sb, e.ctx) })

	// Each request on a connection of its own, from "client" as a
	// reverse proxy on this host would say (X-Forwarded-For: the test's
	// connections come from the bridge's gateway address, which
	// trust_proxy trusts).
	login := func(t *testing.T, client, user, password string) (int, time.Duration) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/session", nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		if client != "" {
			req.Header.Set("X-Forwarded-For", client)
		}
		hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET /session as %q from %s: %v", user, client, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}

	t.Run("unknown names cost what wrong passwords cost", func(t *testing.T) {
		// Timed inside the sandbox, at the gateway's own credential-check
		// socket (no network in between), each check from an address of
		// its own and 0.5 s apart, so that no limit queues it: 8 for bob
		// with a wrong password (under his limit), 8 for unknown names,
		// interleaved.
		const script = `for i in 1 2 3 4 5 6 7 8; do
	for who in bob ghost$i; do
		curl -s -o /dev/null -w "$who %{http_code} %{time_total}\n" --unix-socket /run/opencode-cloud/auth.sock \
			-H "X-Occ-Client: 10.99.$i.${#who}" -u "$who:wrong-password" http://gateway/check
		sleep 0.5
	done
done`
		var out, errb strings.Builder
		if code, err := sb.Exec(e.ctx, runtime.ExecOptions{Args: []string{"bash", "-c", script}, Stdout: &out, Stderr: &errb}); err != nil || code != 0 {
			t.Fatalf("timing the checks: exit %d %v %s", code, err, errb.String())
		}
		var known, unknown []time.Duration
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			f := strings.Fields(line)
			if len(f) != 3 || f[1] != "401" {
				t.Fatalf("a check answered %q, want 401", line)
			}
			secs, err := strconv.ParseFloat(f[2], 64)
			if err != nil {
				t.Fatal(err)
			}
			d := time.Duration(secs * float64(time.Second))
			if f[0] == "bob" {
				known = append(known, d)
			} else {
				unknown = append(unknown, d)
			}
		}
		mk, mu := median(known), median(unknown)
		t.Logf("refusal time, median of 8: known user with a wrong password %s (fastest %s); unknown user %s (fastest %s)",
			mk, fastest(known), mu, fastest(unknown))
		if mu < mk*6/10 {
			t.Errorf("an unknown user is refused in %s, a known one with a wrong password in %s: the time tells which names exist", mu, mk)
		}
	})

	t.Run("rate limits", func(t *testing.T) {
		if code, _ := login(t, "203.0.113.1", "alice", "alice-secret"); code != http.StatusOK {
			t.Fatalf("alice: %d", code)
		}
		// 3 failed checks per address, then 429 for that address only.
		for i := 1; i <= 3; i++ {
			if code, _ := login(t, "203.0.113.66", "mallory", fmt.Sprintf("guess%d", i)); code != http.StatusUnauthorized {
				t.Fatalf("guess %d from 203.0.113.66: %d, want 401", i, code)
			}
		}
		if code, _ := login(t, "203.0.113.66", "mallory", "guess4"); code != http.StatusTooManyRequests {
			t.Errorf("a 4th guess from one address within the window: %d, want 429", code)
		}
		if code, _ := login(t, "203.0.113.67", "mallory", "guess5"); code != http.StatusUnauthorized {
			t.Errorf("a guess from another address (X-Forwarded-For from a trusted proxy): %d, want 401", code)
		}
		// X-Forwarded-For from a peer that is not a trusted proxy (the
		// sandbox's own address, from inside) names nothing: four guesses
		// "from" four addresses are four from that one peer.
		const untrusted = `ip=$(hostname -I | cut -d' ' -f1)
for i in 1 2 3 4; do
	curl -s -o /dev/null -w "%{http_code}\n" -u "mallory:guess$i" -H "X-Forwarded-For: 192.0.2.20$i" "http://$ip:3000/session"
done`
		var out, errb strings.Builder
		if code, err := sb.Exec(e.ctx, runtime.ExecOptions{Args: []string{"bash", "-c", untrusted}, Stdout: &out, Stderr: &errb}); err != nil || code != 0 {
			t.Fatalf("guesses from an untrusted peer: exit %d %v %s", code, err, errb.String())
		}
		if got := strings.Fields(out.String()); strings.Join(got, " ") != "401 401 401 429" {
			t.Errorf("4 guesses from an untrusted peer with 4 X-Forwarded-For addresses: %v, want 401 401 401 429 (the header ignored)", got)
		}
		// alice's cached login (expired: the cache lasts 2s here) still
		// works from the address over its limit.
		time.Sleep(3 * time.Second)
		if code, _ := login(t, "203.0.113.66", "alice", "alice-secret"); code != http.StatusOK {
			t.Errorf("alice, logged in before, from an address over its limit: %d, want 200", code)
		}
		// Guessing alice's password from many addresses: 4x3 checks per
		// name, then her name is limited, but not her login.
		limited := false
		for i := 0; i < 14 && !limited; i++ {
			code, _ := login(t, fmt.Sprintf("192.0.2.%d", 10+i), "alice", fmt.Sprintf("guess%d", i))
			limited = code == http.StatusTooManyRequests
		}
		if !limited {
			t.Errorf("14 guesses at alice from 14 addresses: never limited")
		}
		if code, _ := login(t, "203.0.113.2", "alice", "alice-secret"); code != http.StatusOK {
			t.Errorf("alice, logged in before, while her name is over its limit: %d, want 200", code)
		}
		if code, _ := login(t, "192.0.2.99", "alice", "guess99"); code != http.StatusTooManyRequests {
			t.Errorf("a wrong password for alice while her name is over its limit: %d, want 429 (not a cached login)", code)
		}
	})

	t.Run("account changes keep other users' streams", func(t *testing.T) {
		// bob holds opencode's event stream open through the gateway.
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/global/event", nil)
		req.SetBasicAuth("bob", "bob-secret")
		req.Header.Set("X-Forwarded-For", "203.0.113.3")
		req.Header.Set("Accept", "text/event-stream")
		if err := req.Write(conn); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(br, req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("bob's event stream: %v %v", resp, err)
		}
		closed := make(chan error, 1)
		go func() {
			conn.SetReadDeadline(time.Time{})
			_, err := io.Copy(io.Discard, resp.Body)
			closed <- err
		}()
		if code, _ := login(t, "203.0.113.4", "alice", "alice-secret"); code != http.StatusOK {
			t.Fatalf("alice before the change: %d", code)
		}
		e.must("", "user", "disable", "alice")
		// Refused: 401, or 429 while her name is still over its limit
		// from the guessing above (a cached login no longer counts).
		refused := func(code int) bool { return code == http.StatusUnauthorized || code == http.StatusTooManyRequests }
		if code, _ := login(t, "203.0.113.4", "alice", "alice-secret"); !refused(code) {
			t.Errorf("alice right after occ user disable alice: %d, want 401 or 429", code)
		}
		// A reload closed old workers' connections after 10s
		// (worker_shutdown_timeout): wait longer than that.
		select {
		case err := <-closed:
			t.Errorf("bob's event stream ended when alice was disabled (%v): account changes must not drop other users' connections", err)
		case <-time.After(12 * time.Second):
		}
		if code, _ := login(t, "203.0.113.5", "bob", "bob-secret"); code != http.StatusOK {
			t.Errorf("bob after alice was disabled: %d", code)
		}
		if code, _ := login(t, "203.0.113.4", "alice", "alice-secret"); !refused(code) {
			t.Errorf("alice, disabled, 12s later: %d, want 401 or 429", code)
		}
	})
}

func fastest(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds[1:] {
		m = min(m, d)
	}
	return m
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// healthIsFixed runs, inside the sandbox, a second nginx with the gateway's
// own generated config pointed at an echo server (node, in the image) in
// opencode's place, sends it an anonymous health check with a query string
// and headers, and looks at what arrived. Its logs go to files: under the
// user namespace the exec's stdout and stderr are host pipes the sandbox's
// root may not reopen through /dev/stdout.
func healthIsFixed(t *testing.T, sb *runtime.Sandbox, ctx context.Context) {
	const script = `set -eu
d=$(mktemp -d)
chmod 0755 "$d"
node -e 'require("http").createServer((q, s) => { s.setHeader("content-type", "application/json"); s.end(JSON.stringify({method: q.method, url: q.url, headers: q.headers})) }).listen(39001, "127.0.0.1")' >/dev/null 2>&1 &
echo_pid=$!
sed -e 's/server 127\.0\.0\.1:[0-9]*;/server 127.0.0.1:39001;/' \
    -e 's/listen [^ ]* default_server;/listen 127.0.0.1:39002 default_server;/' \
    -e "s|^pid .*|pid $d/nginx.pid;|" \
    -e "s|/run/opencode-cloud/auth.sock|$d/auth.sock|g" \
    -e "s|/run/opencode-cloud/auth-cache|$d/cache|" \
    -e "s|/dev/stdout|$d/access.log|g" -e "s|/dev/stderr|$d/error.log|g" \
    /run/opencode-cloud/nginx.conf >"$d/nginx.conf"
nginx -q -c "$d/nginx.conf"
for _ in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:39001/ 2>/dev/null && break; sleep 0.1; done
curl -sS -H 'X-Evil: 1' -H 'Cookie: session=abc' -H 'X-Opencode-Directory: /etc' \
    'http://127.0.0.1:39002/global/health?auth_token=b3BlbmNvZGU6eA%3D%3D&directory=/etc'
kill "$(cat "$d/nginx.pid")" "$echo_pid"
rm -rf "$d"
`
	var out, errb strings.Builder
	code, err := sb.Exec(ctx, runtime.ExecOptions{Args: []string{"bash", "-c", script}, Stdout: &out, Stderr: &errb})
	if err != nil || code != 0 {
		t.Fatalf("the health check against an echo server: exit %d %v\n%s%s", code, err, out.String(), errb.String())
	}
	var got struct {
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
		t.Fatalf("the echo server's answer %q: %v", out.String(), err)
	}
	if got.Method != http.MethodGet || got.URL != "/global/health" {
		t.Errorf("opencode got %s %s, want GET /global/health (no query string of the client's)", got.Method, got.URL)
	}
	for h := range got.Headers {
		switch h {
		case "host", "authorization", "connection":
		default:
			t.Errorf("opencode got the header %s: %q; only host and the gateway's authorization may reach it", h, got.Headers[h])
		}
	}
	if !strings.HasPrefix(got.Headers["authorization"], "Basic ") {
		t.Errorf("opencode got authorization %q, want the gateway's secret", got.Headers["authorization"])
	}
}
