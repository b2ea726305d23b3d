// Command benchgateway drives a running occ sandbox through its login
// gateway (nginx + PAM in front of opencode) and prints what it measured.
// A benchmark, not a test: `make bench-gateway` runs it against the
// sandbox `make demo` starts (docs/reliability.md has the figures).
//
// For -duration it keeps, at once:
//   - -clients authenticated clients each sending short requests (GET
//     -path) back to back: requests per second, p50/p90/p99 latency and
//     errors (anything but 200; must be 0);
//   - -sse authenticated event streams (GET /global/event) open from start
//     to end;
//   - -ws authenticated terminal websockets (POST /pty, then the upgrade of
//     /pty/ID/connect) open from start to end;
//   - -bad clients sending wrong passwords (for -bad-user), from 127.0.0.1
//     like the valid ones: they must be refused (401 or 429), never let in;
//   - every -change, an account change through the real occ binary (-occ,
//     with -occ-env): a user added, then disabled. The streams and
//     websockets of the valid user must survive every change.
//
// It samples the resident memory of the sandbox's nginx and opencode
// processes (found by -cgroup in /proc/*/cgroup) once a second.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type config struct {
	url, user, pass, path, occ, cgroup string
	badUser                            string
	occEnv                             []string
	duration, change                   time.Duration
	clients, sse, ws, bad              int
}

func main() {
	var c config
	var passFile, occEnv string
	flag.StringVar(&c.url, "url", "http://127.0.0.1:3000", "the gateway")
	flag.StringVar(&c.user, "user", "demo", "a valid login")
	flag.StringVar(&passFile, "password-file", "", "file holding the user's password (first line)")
	flag.StringVar(&c.path, "path", "/session", "what the short requests GET")
	flag.DurationVar(&c.duration, "duration", time.Minute, "how long the load runs")
	flag.DurationVar(&c.change, "change", 10*time.Second, "how often an account changes (0: never)")
	flag.IntVar(&c.clients, "clients", 16, "concurrent clients sending short requests")
	flag.IntVar(&c.sse, "sse", 8, "event streams held open")
	flag.IntVar(&c.ws, "ws", 4, "terminal websockets held open")
	flag.IntVar(&c.bad, "bad", 4, "clients sending wrong passwords")
	flag.StringVar(&c.badUser, "bad-user", "intruder", "the user name the wrong passwords are for (the valid -user: guesses at a real account)")
	flag.StringVar(&c.occ, "occ", "", "the occ binary for account changes (empty: none)")
	flag.StringVar(&occEnv, "occ-env", "", "comma-separated KEY=VALUE for occ (the sandbox's config and data)")
	flag.StringVar(&c.cgroup, "cgroup", "opencode-cloud-sandbox", "a string of the sandbox's cgroup path")
	flag.Parse()
	b, err := os.ReadFile(passFile)
	if err != nil {
		fail("read -password-file: %v", err)
	}
	c.pass = strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	if occEnv != "" {
		c.occEnv = strings.Split(occEnv, ",")
	}
	if err := run(c); err != nil {
		fail("%v", err)
	}
}

func fail(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "benchgateway: "+f+"\n", a...)
	os.Exit(1)
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

type stream struct {
	kind   string
	opened bool
	err    error
	closed atomic.Bool
	bytes  atomic.Int64
	conn   net.Conn
}

func run(c config) error {
	u, err := url.Parse(c.url)
	if err != nil {
		return err
	}
	host := u.Host
	auth := basic(c.user, c.pass)
	// Long-lived streams first, so that they are open across every change.
	t0 := time.Now()
	var streams []*stream
	for i := 0; i < c.sse; i++ {
		streams = append(streams, openSSE(host, auth))
	}
	for i := 0; i < c.ws; i++ {
		streams = append(streams, openWS(c.url, host, auth))
	}
	fmt.Printf("opened %d event streams and %d websockets in %s\n", c.sse, c.ws, time.Since(t0).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), c.duration)
	defer cancel()

	var mem memory
	go mem.sample(ctx, c.cgroup)

	var (
		wg                sync.WaitGroup
		mu                sync.Mutex
		lat               []time.Duration
		errs              = map[string]int{}
		badLetIn, badSeen atomic.Int64
		badCodes          sync.Map
	)
	start := time.Now()
	for i := 0; i < c.clients; i++ {
		wg.Go(func() {
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			for ctx.Err() == nil {
				req, _ := http.NewRequest(http.MethodGet, c.url+c.path, nil)
				req.Header.Set("Authorization", auth)
				t0 := time.Now()
				resp, err := cl.Do(req)
				d := time.Since(t0)
				key := ""
				if err != nil {
					key = "transport: " + err.Error()
				} else {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						key = "HTTP " + strconv.Itoa(resp.StatusCode)
					}
				}
				if ctx.Err() != nil && err != nil {
					break // the run ended under this request
				}
				mu.Lock()
				lat = append(lat, d)
				if key != "" {
					errs[key]++
				}
				mu.Unlock()
			}
		})
	}
	for i := 0; i < c.bad; i++ {
		// From 127.0.0.1 like the valid clients: a port published on
		// loopback by CNI's portmap does not answer other 127.0.0.N
		// sources, and without trust_proxy X-Forwarded-For is ignored.
		wg.Go(func() {
			cl := &http.Client{Timeout: 30 * time.Second}
			for n := 0; ctx.Err() == nil; n++ {
				req, _ := http.NewRequest(http.MethodGet, c.url+c.path, nil)
				req.Header.Set("Authorization", basic(c.badUser, fmt.Sprintf("wrong-%d", n)))
				resp, err := cl.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						errs["wrong-password client: "+err.Error()]++
						mu.Unlock()
						time.Sleep(50 * time.Millisecond)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				badSeen.Add(1)
				v, _ := badCodes.LoadOrStore(resp.StatusCode, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
				if resp.StatusCode < 400 {
					badLetIn.Add(1)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	var changes []string
	if c.occ != "" && c.change > 0 {
		wg.Go(func() {
			tick := time.NewTicker(c.change)
			defer tick.Stop()
			for i := 1; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				name := fmt.Sprintf("bench%d%02d", start.Unix()%100000, i) // new each run
				for _, args := range [][]string{{"user", "add", name, "--generate"}, {"user", "disable", name}} {
					t0 := time.Now()
					cmd := exec.Command(c.occ, args...)
					cmd.Env = append(os.Environ(), c.occEnv...)
					out, err := cmd.CombinedOutput()
					r := fmt.Sprintf("occ %s: %s", strings.Join(args, " "), time.Since(t0).Round(time.Millisecond))
					if err != nil {
						r += fmt.Sprintf(" FAILED: %v %s", err, bytes.TrimSpace(out))
					}
					mu.Lock()
					changes = append(changes, r)
					mu.Unlock()
				}
			}
		})
	}
	<-ctx.Done()
	elapsed := time.Since(start)
	wg.Wait()

	// Report.
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	nerr := 0
	for _, n := range errs {
		nerr += n
	}
	fmt.Printf("gateway load: %s for %s; %d clients GET %s, %d event streams, %d terminal websockets, %d wrong-password clients, an account change every %s\n",
		c.url, elapsed.Round(time.Second), c.clients, c.path, c.sse, c.ws, c.bad, c.change)
	fmt.Printf("valid requests: %d, %.0f/s, p50 %s, p90 %s, p99 %s, max %s, errors %d\n",
		len(lat), float64(len(lat))/elapsed.Seconds(), pct(0.50).Round(100*time.Microsecond), pct(0.90).Round(100*time.Microsecond),
		pct(0.99).Round(100*time.Microsecond), pct(1).Round(100*time.Microsecond), nerr)
	for k, n := range errs {
		fmt.Printf("  error %q: %d\n", k, n)
	}
	var codes []string
	badCodes.Range(func(k, v any) bool {
		codes = append(codes, fmt.Sprintf("%d: %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	sort.Strings(codes)
	fmt.Printf("wrong passwords for %s: %d answered (%s), let in: %d\n", c.badUser, badSeen.Load(), strings.Join(codes, ", "), badLetIn.Load())
	alive := map[string][2]int{}
	for _, s := range streams {
		a := alive[s.kind]
		if s.opened {
			a[0]++
			if !s.closed.Load() {
				a[1]++
			}
		} else {
			fmt.Printf("  %s did not open: %v\n", s.kind, s.err)
		}
		alive[s.kind] = a
		if s.conn != nil {
			s.conn.Close()
		}
	}
	for _, k := range []string{"event stream", "websocket"} {
		a := alive[k]
		fmt.Printf("%ss: %d opened, %d still open at the end\n", k, a[0], a[1])
	}
	fmt.Printf("account changes: %d\n", len(changes))
	for _, ch := range changes {
		fmt.Printf("  %s\n", ch)
	}
	mem.report()
	return nil
}

// openSSE opens GET /global/event and reads it until the connection ends.
func openSSE(host, auth string) *stream {
	s := &stream{kind: "event stream"}
	conn, err := net.DialTimeout("tcp", host, 10*time.Second)
	if err != nil {
		s.err = err
		return s
	}
	fmt.Fprintf(conn, "GET /global/event HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nAccept: text/event-stream\r\n\r\n", host, auth)
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		s.err = fmt.Errorf("%v %v", statusOf(resp), err)
		conn.Close()
		return s
	}
	conn.SetReadDeadline(time.Time{})
	s.opened, s.conn = true, conn
	go func() {
		n, _ := io.Copy(io.Discard, resp.Body)
		s.bytes.Add(n)
		s.closed.Store(true)
	}()
	return s
}

// openWS creates a terminal (POST /pty) and upgrades /pty/ID/connect.
func openWS(base, host, auth string) *stream {
	s := &stream{kind: "websocket"}
	req, _ := http.NewRequest(http.MethodPost, base+"/pty", strings.NewReader(`{}`))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		s.err = fmt.Errorf("POST /pty: %w", err)
		return s
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var pty struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &pty) != nil || pty.ID == "" {
		s.err = fmt.Errorf("POST /pty: HTTP %d %.200s", resp.StatusCode, body)
		return s
	}
	conn, err := net.DialTimeout("tcp", host, 10*time.Second)
	if err != nil {
		s.err = err
		return s
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", filepath.Join("/pty", pty.ID, "connect"), host, auth)
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	wr, err := http.ReadResponse(br, nil)
	if err != nil || wr.StatusCode != http.StatusSwitchingProtocols {
		s.err = fmt.Errorf("upgrade /pty/%s/connect: %v %v", pty.ID, statusOf(wr), err)
		conn.Close()
		return s
	}
	conn.SetReadDeadline(time.Time{})
	s.opened, s.conn = true, conn
	go func() {
		n, _ := io.Copy(io.Discard, br)
		s.bytes.Add(n)
		s.closed.Store(true)
	}()
	return s
}

func statusOf(r *http.Response) string {
	if r == nil {
		return "no response"
	}
	return r.Status
}

// memory samples the summed RSS of the sandbox's nginx and opencode
// processes.
type memory struct {
	mu      sync.Mutex
	samples map[string][]int64 // kind -> KiB per sample
}

func (m *memory) sample(ctx context.Context, cgroup string) {
	m.samples = map[string][]int64{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		sums := map[string]int64{}
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			cg, err := os.ReadFile(filepath.Join(p, "cgroup"))
			if err != nil || !strings.Contains(string(cg), cgroup) {
				continue
			}
			comm, _ := os.ReadFile(filepath.Join(p, "comm"))
			kind := ""
			switch c := strings.TrimSpace(string(comm)); {
			case c == "nginx":
				kind = "nginx"
			case strings.Contains(c, "opencode"):
				kind = "opencode"
			default:
				continue
			}
			st, _ := os.ReadFile(filepath.Join(p, "status"))
			for _, l := range strings.Split(string(st), "\n") {
				if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
					f := strings.Fields(v)
					if len(f) > 0 {
						n, _ := strconv.ParseInt(f[0], 10, 64)
						sums[kind] += n
					}
				}
			}
		}
		m.mu.Lock()
		for _, k := range []string{"nginx", "opencode"} {
			m.samples[k] = append(m.samples[k], sums[k])
		}
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (m *memory) report() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range []string{"nginx", "opencode"} {
		s := m.samples[k]
		if len(s) == 0 {
			continue
		}
		lo, hi := s[0], s[0]
		for _, v := range s {
			lo, hi = min(lo, v), max(hi, v)
		}
		fmt.Printf("%s RSS (all its processes): start %.1f MiB, end %.1f MiB, min %.1f, max %.1f (%d samples)\n",
			k, float64(s[0])/1024, float64(s[len(s)-1])/1024, float64(lo)/1024, float64(hi)/1024, len(s))
	}
}
