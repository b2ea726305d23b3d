package registry

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// memRegistry is an in-memory registry recording the ns= of each request.
type memRegistry struct {
	srv *httptest.Server
	mu  sync.Mutex
	ns  []string
}

func newMemRegistry(t *testing.T, tlsOn bool) *memRegistry {
	m := &memRegistry{}
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	wrap := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.ns = append(m.ns, r.URL.Query().Get("ns"))
		m.mu.Unlock()
		h.ServeHTTP(w, r)
	})
	if tlsOn {
		m.srv = httptest.NewTLSServer(wrap)
	} else {
		m.srv = httptest.NewServer(wrap)
	}
	t.Cleanup(m.srv.Close)
	return m
}

func (m *memRegistry) host() string {
	return strings.TrimPrefix(strings.TrimPrefix(m.srv.URL, "http://"), "https://")
}

func (m *memRegistry) push(t *testing.T, ref string, img v1.Image) string {
	t.Helper()
	r, err := name.ParseReference(m.host() + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithTransport(m.srv.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.ns = nil // only what is asked after the push counts
	m.mu.Unlock()
	return d.String()
}

func TestResolveViaMirror(t *testing.T) {
	origin := newMemRegistry(t, false)
	mirror := newMemRegistry(t, false)
	empty := newMemRegistry(t, false)
	tlsMirror := newMemRegistry(t, true)
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	dgst := origin.push(t, "library/debian:bookworm-slim", img)
	mirror.push(t, "library/debian:bookworm-slim", img)
	tlsMirror.push(t, "library/debian:bookworm-slim", img)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsMirror.srv.Certificate().Raw})
	base := origin.host() + "/library/debian:bookworm-slim"
	mirrorSection := func(m *memRegistry, scheme, caps string) string {
		return "[host.\"" + scheme + "://" + m.host() + "\"]\n  capabilities = [" + caps + "]\n"
	}
	tests := []struct {
		name      string
		ref       string
		hostsToml string // for origin; "" writes none
		want      string // the mirror the pin is on; "" no pin
		tried     string
	}{
		{"no configuration", base, "", "", ""},
		{"the mirror has it", base, mirrorSection(mirror, "http", `"pull", "resolve"`), mirror.host(), ""},
		{"first mirror lacks it", base,
			mirrorSection(empty, "http", `"pull", "resolve"`) + mirrorSection(mirror, "http", `"pull", "resolve"`), mirror.host(), empty.host() + ": "},
		{"pull-only mirror cannot resolve a tag", base, mirrorSection(mirror, "http", `"pull"`), "", "not a resolve mirror"},
		{"a digest on a pull-only mirror", origin.host() + "/library/debian@" + dgst, mirrorSection(mirror, "http", `"pull"`), mirror.host(), ""},
		{"TLS mirror with its own CA", base, mirrorSection(tlsMirror, "https", `"pull", "resolve"`) + "  ca = \"ca.pem\"\n", tlsMirror.host(), ""},
		{"TLS mirror without its CA", base, mirrorSection(tlsMirror, "https", `"pull", "resolve"`), "", "x509"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if tt.hostsToml != "" {
				dir := filepath.Join(root, strings.Replace(origin.host(), ":", "_", 1)+"_")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(tt.hostsToml), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			pin, err := ResolveViaMirror(context.Background(), NewHosts(root), tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			if pin.Mirror != tt.want {
				t.Fatalf("pinned on %q, want %q (%+v)", pin.Mirror, tt.want, pin)
			}
			if tt.want != "" && pin.Ref != tt.want+"/library/debian@"+dgst {
				t.Errorf("ref %s, want %s/library/debian@%s", pin.Ref, tt.want, dgst)
			}
			if tried := strings.Join(pin.Tried, "; "); !strings.Contains(tried, tt.tried) {
				t.Errorf("tried %q, want %q in it", tried, tt.tried)
			}
		})
	}
	mirror.mu.Lock()
	defer mirror.mu.Unlock()
	for _, ns := range mirror.ns {
		if ns != origin.host() {
			t.Fatalf("mirror asked with ns=%q, want %s", ns, origin.host())
		}
	}
}

func TestResolveViaMirrorBadReference(t *testing.T) {
	if _, err := ResolveViaMirror(context.Background(), NewHosts(t.TempDir()), "UPPER/Case"); err == nil {
		t.Fatal("a bad reference passed")
	}
}
