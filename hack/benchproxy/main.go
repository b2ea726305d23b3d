// Command benchproxy is the counting reverse proxy `hack/bench table` puts in
// front of the testbed registry, so that every tool's "bytes fetched" and
// blob count are measured on the registry side in the same way.
//
//	go run ./hack/benchproxy -listen 127.0.0.1:5076 -upstream 127.0.0.1:5075
//
// It forwards everything to the upstream registry and counts what it sends
// back. Two endpoints of its own:
//
//	GET  /_bench/stats   one line: requests, blob_gets, blob_bytes, manifest_gets, bytes, cpu_seconds
//	POST /_bench/reset   zeroes the counters
//
// blob_gets counts GETs of /v2/…/blobs/<digest> answered 200 or 206;
// bytes counts every response body byte sent to clients (blob_bytes those of blobs);
// cpu_seconds is this proxy's own user+system CPU, so its overhead can be reported.
//
// It can also shape the client side like a real network (hack/bench table --net):
//
//	-rate 25e6   a cap per client connection, bytes/s (a CDN's per-connection limit)
//	-total 125e6 a cap over all client connections together, bytes/s (the host's link)
//	-rtt 30ms    the round trip added: once per new connection (the TCP handshake)
//	             and once per request (the request going out, the first byte back)
//
// The shaping is on what the proxy sends to clients (downloads); requests are small.
// An open-ended Range ("bytes=N-") is sent to the registry as a closed one (see blobSizes).
// With -blobs DIR it serves blobs itself from the registry's disk directory (see serveBlob).
// It is a model, not a network emulator: no loss, no TCP slow start after the handshake.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"
)

// debug (BENCHPROXY_DEBUG=1) logs every request to stderr.
var debug bool

type counters struct {
	requests, blobGets, blobBytes, manifestGets, bytes atomic.Int64
}

func (c *counters) reset() {
	for _, v := range []*atomic.Int64{&c.requests, &c.blobGets, &c.blobBytes, &c.manifestGets, &c.bytes} {
		v.Store(0)
	}
}

// countingWriter counts one response as it is sent: a client that stops reading
// a body it asked for (containerd's ranged fetch reads part of its first response)
// is counted for what it got when it got it, not when the handler returns.
type countingWriter struct {
	http.ResponseWriter
	c      *counters
	r      *http.Request
	status int
	n      int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.c.requests.Add(1)
		ok := code == http.StatusOK || code == http.StatusPartialContent
		if w.r.Method == http.MethodGet && ok && strings.HasPrefix(w.r.URL.Path, "/v2/") {
			switch {
			case strings.Contains(w.r.URL.Path, "/blobs/"):
				w.c.blobGets.Add(1)
			case strings.Contains(w.r.URL.Path, "/manifests/"):
				w.c.manifestGets.Add(1)
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	w.c.bytes.Add(int64(n))
	if strings.Contains(w.r.URL.Path, "/blobs/") {
		w.c.blobBytes.Add(int64(n))
	}
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	upstream := flag.String("upstream", "", "the registry's host:port (plain HTTP)")
	perConn := flag.Float64("rate", 0, "bytes/s per client connection (0: no cap)")
	total := flag.Float64("total", 0, "bytes/s over all client connections (0: no cap)")
	rtt := flag.Duration("rtt", 0, "round-trip time added per new connection and per request")
	blobDir := flag.String("blobs", "", "serve blob GETs from DIR/sha256/<hex> (the registry's --disk directory) when there, as a CDN would")
	flag.Parse()
	debug = os.Getenv("BENCHPROXY_DEBUG") == "1"
	if *upstream == "" {
		fmt.Fprintln(os.Stderr, "benchproxy: -upstream is required")
		os.Exit(2)
	}
	target := &url.URL{Scheme: "http", Host: *upstream}
	// The registry sees requests for its own host, as it would without the proxy.
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = target.Host
	}}
	rp.Transport = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}
	rp.BufferPool = pool{}
	rp.ErrorLog = log.New(os.Stderr, "benchproxy: ", log.LstdFlags)

	var c counters
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_bench/stats", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "requests %d blob_gets %d blob_bytes %d manifest_gets %d bytes %d cpu_seconds %.3f\n",
			c.requests.Load(), c.blobGets.Load(), c.blobBytes.Load(), c.manifestGets.Load(), c.bytes.Load(), cpuSeconds())
	})
	mux.HandleFunc("POST /_bench/reset", func(w http.ResponseWriter, _ *http.Request) {
		c.reset()
		w.WriteHeader(http.StatusNoContent)
	})
	sizes := &blobSizes{upstream: target, client: &http.Client{Transport: rp.Transport}}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if *rtt > 0 {
			time.Sleep(*rtt)
		}
		cw := &countingWriter{ResponseWriter: w, c: &c, r: r}
		if debug {
			log.Printf("%s %s range=%q", r.Method, r.URL.Path, r.Header.Get("Range"))
		}
		if !serveBlob(cw, r, *blobDir) {
			sizes.closeRange(r)
			rp.ServeHTTP(cw, r)
		}
		if cw.status == 0 {
			cw.WriteHeader(http.StatusOK)
		}
		if debug {
			log.Printf("%s %s range=%q -> %d, %d bytes", r.Method, r.URL.Path, r.Header.Get("Range"), cw.status, cw.n)
		}
	})

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchproxy:", err)
		os.Exit(1)
	}
	if *perConn > 0 || *total > 0 || *rtt > 0 {
		sl := &shapedListener{Listener: ln, perConn: *perConn, rtt: *rtt}
		if *total > 0 {
			sl.total = rate.NewLimiter(rate.Limit(*total), shapeBurst)
		}
		ln = sl
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "benchproxy:", err)
		os.Exit(1)
	}
}

// pool hands ReverseProxy 256 KiB copy buffers (fewer syscalls per GiB than its 32 KiB default).
type pool struct{}

var bufs = make(chan []byte, 64)

func (pool) Get() []byte {
	select {
	case b := <-bufs:
		return b
	default:
		return make([]byte, 256<<10)
	}
}

func (pool) Put(b []byte) {
	select {
	case bufs <- b:
	default:
	}
}

// shapeWrite is the largest write paced at once: 64 KiB is 2.6 ms at 25 MB/s,
// fine-grained enough to look like a steady stream. shapeBurst is the limiters'
// burst: 40 ms at 25 MB/s, so that a wake-up late by tens of ms on a loaded machine
// does not lose bandwidth (with a 64 KiB burst, 4 streams capped at 25 MB/s each
// got 20 MB/s at load average 19; with 1 MiB, 4 x 63 MB took 3.1 s against 2.5 s ideal
// while the same transfer unshaped took 2.2 s on that machine).
const (
	shapeWrite = 64 << 10
	shapeBurst = 1 << 20
)

// shapedListener hands out connections whose writes are paced by a limiter of
// their own and one shared by all, and whose first read waits one round trip.
type shapedListener struct {
	net.Listener
	perConn float64
	total   *rate.Limiter
	rtt     time.Duration
}

func (l *shapedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &shapedConn{Conn: c, total: l.total, handshake: l.rtt}
	if l.perConn > 0 {
		sc.own = rate.NewLimiter(rate.Limit(l.perConn), shapeBurst)
	}
	return sc, nil
}

type shapedConn struct {
	net.Conn
	own, total *rate.Limiter
	handshake  time.Duration
	shook      bool
}

func (c *shapedConn) Read(b []byte) (int, error) {
	if !c.shook {
		c.shook = true
		time.Sleep(c.handshake)
	}
	return c.Conn.Read(b)
}

func (c *shapedConn) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), shapeWrite)
		// Both reserved at once, then one wait for the later of the two: waiting
		// for one and then the other would add their delays.
		var wait time.Duration
		now := time.Now()
		for _, l := range []*rate.Limiter{c.own, c.total} {
			if l != nil {
				wait = max(wait, l.ReserveN(now, k).DelayFrom(now))
			}
		}
		if wait > 0 {
			time.Sleep(wait)
		}
		m, err := c.Conn.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		b = b[k:]
	}
	return n, nil
}

// serveBlob answers a GET or HEAD of a blob from the registry's disk directory, with
// ranges, as the CDN behind a real registry would. crane's registry (the testbed's)
// reads and hashes the whole blob before it answers any GET of it, ranges included
// (0.3-0.4 s before the first byte of a 2 MiB range of a 128 MiB blob), which no
// registry people pull from does and which made every ranged fetch crawl.
func serveBlob(w http.ResponseWriter, r *http.Request, dir string) bool {
	if dir == "" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	i := strings.LastIndex(r.URL.Path, "/blobs/sha256:")
	if i < 0 {
		return false
	}
	hex := r.URL.Path[i+len("/blobs/sha256:"):]
	if len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return false
	}
	f, err := os.Open(filepath.Join(dir, "sha256", hex))
	if err != nil {
		return false
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Docker-Content-Digest", "sha256:"+hex)
	w.Header().Set("Accept-Ranges", "bytes")
	http.ServeContent(w, r, "", time.Time{}, f)
	return true
}

// blobSizes makes open-ended Range requests ("bytes=N-") closed ones before they reach
// the registry: crane's registry, the testbed's, answers the open form with 416 ("We
// don't understand your Range"), where registries behind CDNs serve it, and containerd's
// ranged fetch (concurrent_layer_fetch_buffer) sends it and fails on the 416.
type blobSizes struct {
	upstream *url.URL
	client   *http.Client
	m        sync.Map // path -> int64
}

func (b *blobSizes) closeRange(r *http.Request) {
	rg := r.Header.Get("Range")
	var from int64
	if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") || !strings.HasSuffix(rg, "-") {
		return
	}
	if _, err := fmt.Sscanf(rg, "bytes=%d-", &from); err != nil {
		return
	}
	size, ok := b.m.Load(r.URL.Path)
	if !ok {
		u := *b.upstream
		u.Path = r.URL.Path
		resp, err := b.client.Head(u.String())
		if err != nil {
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ContentLength <= 0 {
			return
		}
		size = resp.ContentLength
		b.m.Store(r.URL.Path, size)
	}
	if n := size.(int64); from < n {
		r.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, n-1))
	}
}
