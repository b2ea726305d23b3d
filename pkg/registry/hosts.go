package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	dockerconfig "github.com/containerd/containerd/v2/core/remotes/docker/config"
	"github.com/containerd/errdefs"
	"github.com/pelletier/go-toml/v2"
)

// SystemCertsDir is where containerd (and nerdctl) read registry hosts
// configuration: certs.d/<host>/hosts.toml.
const SystemCertsDir = "/etc/containerd/certs.d"

// Hosts is registry host configuration in containerd's certs.d format
// (https://github.com/containerd/containerd/blob/main/docs/hosts.md):
// for a registry HOST, the first of DIR/HOST/hosts.toml (":port" written
// "_port_"), DIR/_default/hosts.toml over the directories in order wins.
// It gives mirrors ([host."URL"] sections, tried in order before the
// registry itself, for what their capabilities allow), a CA (ca), a client
// certificate (client), skip_verify, extra headers, and `server` (the
// registry's own endpoint). Files are read by containerd's own parser.
type Hosts struct {
	dirs []string

	mu    sync.Mutex
	cache map[string]hostsEntry
}

type hostsEntry struct {
	hosts []docker.RegistryHost // nil: no configuration for the host
	err   error
}

// NewHosts reads configuration from dirs, first match wins (occ passes
// its config directory's certs.d, then SystemCertsDir). Directories that
// do not exist are skipped.
func NewHosts(dirs ...string) *Hosts {
	return &Hosts{dirs: certsDirsExist(dirs), cache: map[string]hostsEntry{}}
}

// DefaultCertsDirs are the directories occ reads: certs.d beside its
// config file, then containerd's.
func DefaultCertsDirs(configDir string) []string {
	return []string{filepath.Join(configDir, "certs.d"), SystemCertsDir}
}

// Lookup returns the endpoints configured for registry (as it appears in
// a reference: docker.io, host:port), mirrors first and the registry's own
// endpoint last, or nil when no directory configures it.
func (h *Hosts) Lookup(ctx context.Context, registry string) ([]docker.RegistryHost, error) {
	if h == nil {
		return nil, nil
	}
	if registry == "index.docker.io" || registry == "registry-1.docker.io" {
		registry = "docker.io" // go-containerregistry's name for Docker Hub; certs.d's is docker.io
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.cache[registry]; ok {
		return e.hosts, e.err
	}
	hosts, err := h.lookup(ctx, registry)
	h.cache[registry] = hostsEntry{hosts, err}
	return hosts, err
}

func (h *Hosts) lookup(ctx context.Context, registry string) ([]docker.RegistryHost, error) {
	var dir string
	for _, root := range h.dirs {
		d, err := dockerconfig.HostDirFromRoot(root)(registry)
		if err == nil {
			dir = d
			break
		}
		if !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("reading registry configuration for %s under %s: %w", registry, root, err)
		}
	}
	if dir == "" {
		return nil, nil
	}
	// containerd logs a hosts.toml it cannot parse and goes on without
	// it; occ says so instead of pulling from the wrong place.
	file := filepath.Join(dir, "hosts.toml")
	if b, err := os.ReadFile(file); err == nil {
		var v map[string]any
		if err := toml.Unmarshal(b, &v); err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
				"registry configuration %s: %v: fix the file (containerd's hosts.toml format: https://github.com/containerd/containerd/blob/main/docs/hosts.md)", file, err))
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading registry configuration: %w", err)
	}
	hosts, err := dockerconfig.ConfigureHosts(ctx, dockerconfig.HostOptions{
		HostDir: func(string) (string, error) { return dir, nil },
	})(registry)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
			"registry configuration %s: %v (containerd's hosts.toml format: https://github.com/containerd/containerd/blob/main/docs/hosts.md)",
			filepath.Join(dir, "hosts.toml"), err))
	}
	return hosts, nil
}

// Transport wraps inner (occ's transport for one registry) so that
// requests to a registry configured in h go to its endpoints: a blob or
// manifest is asked of each mirror in order, then of the registry's own
// endpoint; a mirror that cannot answer (connection error, 401, 403, 404,
// 5xx) passes the request on. The registry's own endpoint answers the
// /v2/ ping, so credentials are negotiated with the registry; mirrors are
// asked without the registry's Authorization header (a pull-through
// cache is reached anonymously and never sees the registry's token).
// Each endpoint uses the TLS settings its hosts.toml gives (ca, client,
// skip_verify) on a copy of inner; unconfigured registries pass through.
func (h *Hosts) Transport(inner http.RoundTripper) http.RoundTripper {
	if h == nil || len(h.dirs) == 0 {
		return inner
	}
	return &hostsTransport{h: h, inner: inner, perHost: map[*docker.RegistryHost]http.RoundTripper{}}
}

type hostsTransport struct {
	h     *Hosts
	inner http.RoundTripper

	mu      sync.Mutex
	perHost map[*docker.RegistryHost]http.RoundTripper
}

// endpointTransport is inner with the endpoint's TLS settings, when its
// hosts.toml gave any (containerd put them on the endpoint's transport).
func (t *hostsTransport) endpointTransport(rh *docker.RegistryHost) http.RoundTripper {
	t.mu.Lock()
	defer t.mu.Unlock()
	if rt, ok := t.perHost[rh]; ok {
		return rt
	}
	rt := t.inner
	if cfgd, ok := rh.Client.Transport.(*http.Transport); ok && cfgd.TLSClientConfig != nil && tlsConfigured(cfgd) {
		if base, ok := t.inner.(*http.Transport); ok {
			c := base.Clone()
			c.TLSClientConfig = cfgd.TLSClientConfig.Clone()
			rt = c
		} else {
			rt = cfgd
		}
	} else if !ok {
		rt = rh.Client.Transport // an HTTP fallback round tripper: containerd's own
	}
	t.perHost[rh] = rt
	return rt
}

// tlsConfigured: hosts.toml set a CA, a client certificate or skip_verify.
func tlsConfigured(tr *http.Transport) bool {
	c := tr.TLSClientConfig
	return c.RootCAs != nil || len(c.Certificates) > 0 || c.InsecureSkipVerify
}

// The capability a request needs of an endpoint (containerd's rules: a tag
// needs resolve, content by digest needs pull).
func needs(p string) docker.HostCapabilities {
	switch {
	case strings.Contains(p, "/manifests/") && !strings.Contains(path.Base(p), ":"):
		return docker.HostCapabilityResolve
	case strings.Contains(p, "/referrers/"):
		return docker.HostCapabilityReferrers
	default:
		return docker.HostCapabilityPull
	}
}

func (t *hostsTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	hosts, err := t.h.Lookup(r.Context(), r.URL.Host)
	if err != nil {
		return nil, err
	}
	if hosts == nil || !strings.HasPrefix(r.URL.Path, "/v2") {
		return t.inner.RoundTrip(r)
	}
	own := len(hosts) - 1
	order := make([]int, 0, len(hosts))
	if strings.TrimSuffix(r.URL.Path, "/") == "/v2" {
		// The ping: the registry first (its challenge decides the
		// credentials), mirrors only when it cannot be reached.
		order = append(order, own)
		for i := range own {
			order = append(order, i)
		}
	} else {
		for i := range own {
			if hosts[i].Capabilities.Has(needs(r.URL.Path)) {
				order = append(order, i)
			}
		}
		order = append(order, own)
	}
	var tried []string
	for n, i := range order {
		rh := &hosts[i]
		req := endpointRequest(r, rh, i != own)
		resp, err := t.endpointTransport(rh).RoundTrip(req)
		if resp != nil {
			// The caller sees its own request: go-containerregistry takes
			// the registry's scheme from the ping's response.
			resp.Request = r
		}
		if n == len(order)-1 {
			if err != nil && len(tried) > 0 {
				err = fmt.Errorf("%w (mirrors tried first: %s)", err, strings.Join(tried, "; "))
			}
			return resp, err
		}
		if err == nil && !passOn(resp.StatusCode) {
			return resp, nil
		}
		if err != nil {
			if r.Context().Err() != nil {
				return nil, err
			}
			tried = append(tried, fmt.Sprintf("%s: %v", rh.Host, err))
		} else {
			tried = append(tried, fmt.Sprintf("%s: HTTP %d", rh.Host, resp.StatusCode))
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
	}
	return nil, errors.New("no registry endpoint configured") // not reached: order ends with own
}

// passOn: statuses with which a mirror hands the request to the next
// endpoint.
func passOn(code int) bool {
	return code == http.StatusNotFound || code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500
}

// endpointRequest is r sent to rh: its scheme, host and path prefix
// (hosts.toml's URL path, /v2 by default). A mirror gets no Authorization
// header and, as containerd sends it, ns=<registry> in the query.
func endpointRequest(r *http.Request, rh *docker.RegistryHost, mirror bool) *http.Request {
	req := r.Clone(r.Context())
	if !mirror && rh.Host == r.URL.Host {
		// The registry itself: the scheme stays what occ chose for it
		// (https unless loopback or in insecure_registries).
		req.URL.Path = rh.Path + strings.TrimPrefix(r.URL.Path, "/v2")
		for k, v := range rh.Header {
			req.Header[k] = v
		}
		return req
	}
	req.URL.Scheme = schemeOr(rh.Scheme, r.URL.Scheme)
	req.URL.Host = rh.Host
	req.Host = ""
	req.URL.Path = rh.Path + strings.TrimPrefix(r.URL.Path, "/v2")
	req.URL.RawPath = ""
	if mirror {
		req.Header.Del("Authorization")
		q := req.URL.Query()
		q.Set("ns", r.URL.Host)
		req.URL.RawQuery = q.Encode()
	}
	for k, v := range rh.Header {
		req.Header[k] = v
	}
	return req
}

func schemeOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// certsDirsExist drops directories that are not there, so a machine
// without /etc/containerd/certs.d costs nothing per request.
func certsDirsExist(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			out = append(out, d)
		}
	}
	return out
}
