// Package chaosproxy is a fault-injecting HTTP proxy for an OCI
// distribution registry. It sits in front of a real registry and, per a
// Schedule, answers chosen requests wrongly: it cuts a body after N bytes,
// stalls, answers 429/500/503 with or without Retry-After, flips a byte,
// truncates, serves a different manifest than the one asked for, answers
// 401 or 404, or ignores Range. Everything else is passed through.
//
// A Schedule is a list of Rules. Each rule matches requests (method, kind
// of request, repository, blob) and counts the requests it matched; it
// acts on the Nth to the (Nth+Count-1)th of them. The first rule that acts
// on a request wins. Blobs may be named symbolically ("config", "layer:0",
// "layer:-1"): the proxy resolves them from the last image manifest it
// passed through, so a schedule can be written before the image exists.
//
// The proxy is used by the chaos suite (integration/chaos_test.go) and by
// hack/chaosproxy, which runs it from the command line.
package chaosproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind is what a request asks the registry for.
type Kind string

const (
	KindAny      Kind = ""         // every request
	KindPing     Kind = "ping"     // GET /v2/
	KindManifest Kind = "manifest" // /v2/<repo>/manifests/<ref>
	KindBlob     Kind = "blob"     // /v2/<repo>/blobs/<digest>
	KindOther    Kind = "other"
)

// ActionType is what the proxy does to a matched request.
type ActionType string

const (
	// Pass forwards the request unchanged (a rule that only counts).
	Pass ActionType = "pass"
	// Status answers Action.Status (with Action.RetryAfter when set) and a
	// registry error body, without asking the registry.
	Status ActionType = "status"
	// Cut sends the headers (full Content-Length) and Action.Bytes bytes
	// of the body, then drops the connection.
	Cut ActionType = "cut"
	// Stall waits Action.Stall after Action.Bytes bytes of the body (0:
	// before the headers), then goes on, or drops the connection when
	// Action.ThenCut.
	Stall ActionType = "stall"
	// Flip inverts the byte at Action.Offset of the blob or manifest
	// (relative to the start of the content, whatever Range was asked).
	Flip ActionType = "flip"
	// Truncate sends only the first Action.Bytes bytes with a matching
	// Content-Length: a clean but short answer.
	Truncate ActionType = "truncate"
	// Swap serves the manifest at Action.Other (REPO:TAG or REPO@DIGEST)
	// instead of the one asked for. Its Docker-Content-Digest is the
	// served manifest's, or the asked one's when Action.StaleDigest, or
	// absent when Action.NoDigest.
	Swap ActionType = "swap"
	// NoRange forwards the request without its Range header, as a
	// registry that does not support ranges would answer.
	NoRange ActionType = "norange"
	// Garbage answers 200 with an HTML page (a captive portal).
	Garbage ActionType = "garbage"
)

// Action is one fault.
type Action struct {
	Type        ActionType    `json:"type"`
	Status      int           `json:"status,omitempty"`
	RetryAfter  string        `json:"retry_after,omitempty"`
	Bytes       int64         `json:"bytes,omitempty"`
	Offset      int64         `json:"offset,omitempty"`
	Stall       time.Duration `json:"stall,omitempty"`
	ThenCut     bool          `json:"then_cut,omitempty"`
	Other       string        `json:"other,omitempty"`
	StaleDigest bool          `json:"stale_digest,omitempty"`
	NoDigest    bool          `json:"no_digest,omitempty"`
}

// Rule acts on some of the requests it matches.
type Rule struct {
	// Method matches the HTTP method ("" any).
	Method string `json:"method,omitempty"`
	Kind   Kind   `json:"kind,omitempty"`
	// Repo is the repository name, e.g. "test/chaos" ("" any).
	Repo string `json:"repo,omitempty"`
	// Ref matches a manifest's tag or digest, or a blob's digest, or,
	// for blobs, "config", "layer:N" (N from 0; negative from the end)
	// or "layers" (any layer) of the last image manifest served.
	Ref string `json:"ref,omitempty"`
	// Nth is the first matched request acted on (1-based; 0 means 1).
	Nth int `json:"nth,omitempty"`
	// Count is how many matched requests from Nth on are acted on (0
	// means 1; negative: all).
	Count  int    `json:"count,omitempty"`
	Action Action `json:"action"`
}

// Schedule is a named list of rules.
type Schedule struct {
	Name  string `json:"name"`
	Rules []Rule `json:"rules"`
}

// Forever is a Rule.Count that never runs out.
const Forever = -1

// Entry is one request the proxy saw.
type Entry struct {
	Method, Path, Range string
	Kind                Kind
	Rule                int // index of the rule that acted, -1 for none
	Action              ActionType
	Status              int
}

// Proxy forwards to Upstream, injecting the current schedule's faults.
type Proxy struct {
	upstream string // host:port, plain HTTP
	client   *http.Client

	mu       sync.Mutex
	schedule Schedule
	counts   []int
	log      []Entry
	gen      int      // bumped by Set
	config   string   // digests of the last image manifest's config
	layers   []string // and layers
}

// New returns a proxy for the plain-HTTP registry at upstream (host:port).
func New(upstream string) *Proxy {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	return &Proxy{
		upstream: upstream,
		client: &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
}

// Set installs s and clears the counters and the log.
func (p *Proxy) Set(s Schedule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.schedule = s
	p.counts = make([]int, len(s.Rules))
	p.log = nil
	p.gen++
}

// Log is what the proxy saw since the last Set.
func (p *Proxy) Log() []Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Entry(nil), p.log...)
}

// Acted counts the requests a rule of the schedule acted on.
func (p *Proxy) Acted() int {
	n := 0
	for _, e := range p.Log() {
		if e.Rule >= 0 && e.Action != Pass {
			n++
		}
	}
	return n
}

// Serve runs the proxy on l until ctx ends.
func (p *Proxy) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	err := srv.Serve(l)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Start runs a proxy for upstream on a free loopback port until ctx ends
// and returns it with its host:port.
func Start(ctx context.Context, upstream string) (*Proxy, string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	p := New(upstream)
	go func() { _ = p.Serve(ctx, l) }()
	return p, l.Addr().String(), nil
}

// classify splits a registry API path.
func classify(path string) (kind Kind, repo, ref string) {
	if path == "/v2/" || path == "/v2" {
		return KindPing, "", ""
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return KindOther, "", ""
	}
	for _, k := range []struct {
		sep  string
		kind Kind
	}{{"/manifests/", KindManifest}, {"/blobs/", KindBlob}} {
		if i := strings.LastIndex(rest, k.sep); i >= 0 {
			ref := rest[i+len(k.sep):]
			if ref == "" || strings.Contains(ref, "/") || k.kind == KindBlob && strings.HasPrefix(ref, "uploads") {
				break // a push (blob upload) or something else
			}
			return k.kind, rest[:i], ref
		}
	}
	return KindOther, "", ""
}

func (p *Proxy) refMatches(want string, kind Kind, ref string) bool {
	if want == "" {
		return true
	}
	if kind != KindBlob {
		return want == ref
	}
	switch {
	case want == "config":
		return p.config != "" && ref == p.config
	case want == "layers":
		for _, l := range p.layers {
			if l == ref {
				return true
			}
		}
		return false
	case strings.HasPrefix(want, "layer:"):
		i, err := strconv.Atoi(strings.TrimPrefix(want, "layer:"))
		if err != nil || len(p.layers) == 0 {
			return false
		}
		if i < 0 {
			i += len(p.layers)
		}
		return i >= 0 && i < len(p.layers) && p.layers[i] == ref
	}
	return want == ref
}

// pick counts r against every rule and returns the first that acts.
func (p *Proxy) pick(r *http.Request, kind Kind, repo, ref string) (int, *Action) {
	p.mu.Lock()
	defer p.mu.Unlock()
	chosen := -1
	for i, rule := range p.schedule.Rules {
		if rule.Method != "" && !strings.EqualFold(rule.Method, r.Method) {
			continue
		}
		if rule.Kind != KindAny && rule.Kind != kind {
			continue
		}
		if rule.Repo != "" && rule.Repo != repo {
			continue
		}
		if !p.refMatches(rule.Ref, kind, ref) {
			continue
		}
		p.counts[i]++
		n := p.counts[i]
		first := max(rule.Nth, 1)
		count := rule.Count
		if count == 0 {
			count = 1
		}
		if chosen < 0 && n >= first && (count < 0 || n < first+count) {
			chosen = i
		}
	}
	if chosen < 0 {
		return -1, nil
	}
	a := p.schedule.Rules[chosen].Action
	return chosen, &a
}

func (p *Proxy) record(e Entry) (gen, i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = append(p.log, e)
	return p.gen, len(p.log) - 1
}

func (p *Proxy) setStatus(gen, i, status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen == p.gen { // else a Set in between cleared the log
		p.log[i].Status = status
	}
}

// ServeHTTP is the proxy.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind, repo, ref := classify(r.URL.Path)
	idx, act := p.pick(r, kind, repo, ref)
	e := Entry{Method: r.Method, Path: r.URL.Path, Range: r.Header.Get("Range"), Kind: kind, Rule: idx, Action: Pass}
	if act != nil {
		e.Action = act.Type
	}
	sw := &statusWriter{ResponseWriter: w}
	// Logged at once (so the log is complete as soon as a client has its
	// answer); the status is filled in when the handler returns.
	gen, n := p.record(e)
	defer func() { p.setStatus(gen, n, sw.status) }()
	if act == nil {
		p.forward(sw, r, kind, nil)
		return
	}
	switch act.Type {
	case Status:
		writeStatus(sw, act.Status, act.RetryAfter, kind)
	case Garbage:
		sw.Header().Set("Content-Type", "text/html; charset=utf-8")
		sw.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(sw, "<html><body><h1>Please log in to the hotel Wi-Fi</h1></body></html>\n")
	case Swap:
		p.swap(sw, r, repo, ref, act)
	case NoRange:
		r.Header.Del("Range")
		p.forward(sw, r, kind, nil)
	default:
		p.forward(sw, r, kind, act)
	}
}

func writeStatus(w http.ResponseWriter, status int, retryAfter string, kind Kind) {
	code := "UNKNOWN"
	msg := http.StatusText(status)
	switch status {
	case http.StatusNotFound:
		code = "MANIFEST_UNKNOWN"
		if kind == KindBlob {
			code = "BLOB_UNKNOWN"
		}
	case http.StatusUnauthorized:
		code = "UNAUTHORIZED"
		msg = "authentication required"
	case http.StatusTooManyRequests:
		code = "TOOMANYREQUESTS"
		msg = "rate limit exceeded (chaos)"
	case http.StatusServiceUnavailable:
		code = "UNAVAILABLE"
		msg = "service unavailable (chaos)"
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

func (p *Proxy) upstreamRequest(r *http.Request, path string) (*http.Request, error) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.upstream+path, nil)
	if err != nil {
		return nil, err
	}
	for _, h := range []string{"Accept", "Range", "Authorization", "User-Agent"} {
		for _, v := range r.Header.Values(h) {
			out.Header.Add(h, v)
		}
	}
	return out, nil
}

// forward passes r to the registry and its answer back through act.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, kind Kind, act *Action) {
	out, err := p.upstreamRequest(r, r.URL.RequestURI())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	resp, err := p.client.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body := io.Reader(resp.Body)
	// Remember the last image manifest's blobs for symbolic refs.
	if kind == KindManifest && r.Method == http.MethodGet && resp.StatusCode == http.StatusOK {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		p.learn(b)
		body = bytes.NewReader(b)
	}
	var start int64
	if resp.StatusCode == http.StatusPartialContent {
		_, _ = fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-", &start)
	}
	for k, vs := range resp.Header {
		if k == "Content-Length" {
			continue
		}
		w.Header()[k] = vs
	}
	cl := resp.ContentLength
	if act != nil && act.Type == Truncate && cl >= 0 && act.Bytes < cl {
		cl = act.Bytes
	}
	if cl >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(cl, 10))
	}
	if act != nil && act.Type == Stall && act.Bytes == 0 {
		p.stall(r.Context(), act)
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		return
	}
	if act == nil || resp.StatusCode >= 300 {
		_, _ = io.Copy(w, body)
		return
	}
	p.copyFaulty(w, r, body, start, act)
}

func (p *Proxy) learn(b []byte) {
	var m struct {
		Config *struct {
			Digest string `json:"digest"`
		} `json:"config"`
		Layers []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
	if json.Unmarshal(b, &m) != nil || m.Config == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.config = m.Config.Digest
	p.layers = p.layers[:0]
	for _, l := range m.Layers {
		p.layers = append(p.layers, l.Digest)
	}
}

func (p *Proxy) stall(ctx context.Context, act *Action) {
	t := time.NewTimer(act.Stall)
	defer t.Stop()
	select {
	case <-ctx.Done():
		panic(http.ErrAbortHandler)
	case <-t.C:
	}
	if act.ThenCut {
		panic(http.ErrAbortHandler)
	}
}

// copyFaulty copies body (which starts at offset start of the content)
// to w, applying act.
func (p *Proxy) copyFaulty(w http.ResponseWriter, r *http.Request, body io.Reader, start int64, act *Action) {
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	switch act.Type {
	case Cut, Truncate:
		_, _ = io.Copy(w, io.LimitReader(body, act.Bytes))
		flush()
		if act.Type == Cut {
			panic(http.ErrAbortHandler)
		}
	case Stall:
		_, _ = io.Copy(w, io.LimitReader(body, act.Bytes))
		flush()
		if act.Bytes > 0 {
			p.stall(r.Context(), act)
		}
		_, _ = io.Copy(w, body)
	case Flip:
		b, err := io.ReadAll(body)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		if i := act.Offset - start; i >= 0 && i < int64(len(b)) {
			b[i] ^= 0xff
		}
		_, _ = w.Write(b)
	default:
		_, _ = io.Copy(w, body)
	}
}

// swap serves another manifest.
func (p *Proxy) swap(w http.ResponseWriter, r *http.Request, repo, ref string, act *Action) {
	other := act.Other
	orepo, oref := repo, other
	if i := strings.LastIndexAny(other, ":@"); i >= 0 && !strings.Contains(other[i:], "/") {
		orepo, oref = other[:i], other[i+1:]
		if orepo == "" {
			orepo = repo
		}
	}
	out, err := p.upstreamRequest(r, "/v2/"+orepo+"/manifests/"+oref)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Method = http.MethodGet
	resp, err := p.client.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		http.Error(w, fmt.Sprintf("chaos: cannot read %s: %v %s", other, err, resp.Status), http.StatusBadGateway)
		return
	}
	dg := resp.Header.Get("Docker-Content-Digest")
	if act.StaleDigest {
		// What the registry would have said for the asked manifest.
		if strings.HasPrefix(ref, "sha256:") {
			dg = ref
		} else if asked, err := p.upstreamRequest(r, "/v2/"+repo+"/manifests/"+ref); err == nil {
			asked.Method = http.MethodHead
			if ar, err := p.client.Do(asked); err == nil {
				dg = ar.Header.Get("Docker-Content-Digest")
				ar.Body.Close()
			}
		}
	}
	if act.NoDigest {
		dg = ""
	}
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	if dg != "" {
		w.Header().Set("Docker-Content-Digest", dg)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
