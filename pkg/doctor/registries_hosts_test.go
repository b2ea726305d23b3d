package doctor

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
)

// serveTLS pushes an occ sandbox image to an in-memory registry behind
// TLS with its own CA, and returns its host and the CA's PEM.
func serveTLS(t *testing.T, ref string) (host string, caPEM []byte) {
	t.Helper()
	srv := httptest.NewTLSServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "https://")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	hp := registry.HostPlatform()
	cf.OS, cf.Architecture, cf.Variant = hp.OS, hp.Architecture, hp.Variant
	cf.Config.Labels = map[string]string{meta.ImageVersionLabel: "1.2.3"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithTransport(srv.Client().Transport)); err != nil {
		t.Fatal(err)
	}
	return host, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// hostDir is the certs.d directory name of host (":port" as "_port_").
func hostDir(host string) string {
	if h, p, err := net.SplitHostPort(host); err == nil {
		return h + "_" + p + "_"
	}
	return host
}

func writeHostsToml(t *testing.T, certsD, host, body string, files map[string][]byte) {
	t.Helper()
	dir := filepath.Join(certsD, hostDir(host))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestRegistriesReadHostsToml(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials from the machine
	host, ca := serveTLS(t, "occ/sandbox:t1")
	origin := closedPort(t)
	tests := []struct {
		name   string
		repo   string
		hosts  map[string]string // registry -> hosts.toml
		want   string
		detail string
	}{
		{"private CA unknown", host + "/occ/sandbox", nil, "fail", "HTTP 400"},
		{"private CA from hosts.toml", host + "/occ/sandbox",
			map[string]string{host: "[host.\"https://" + host + "\"]\n  ca = \"ca.pem\"\n"},
			"ok", "occ sandbox 1.2.3"},
		{"only through a mirror", origin + "/occ/sandbox",
			map[string]string{origin: "server = \"http://" + origin + "\"\n[host.\"https://" + host + "\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = \"ca.pem\"\n"},
			"ok", "occ sandbox 1.2.3"},
		{"mirror without its CA", origin + "/occ/sandbox",
			map[string]string{origin: "server = \"http://" + origin + "\"\n[host.\"https://" + host + "\"]\n  capabilities = [\"pull\", \"resolve\"]\n"},
			"fail", "x509"},
		{"broken hosts.toml", host + "/occ/sandbox",
			map[string]string{host: "[host.\"https://" + host + "\"\n"},
			"fail", filepath.Join(hostDir(host), "hosts.toml")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgDir := t.TempDir()
			for reg, body := range tt.hosts {
				writeHostsToml(t, filepath.Join(cfgDir, "certs.d"), reg, body, map[string][]byte{"ca.pem": ca})
			}
			cfg := meta.DefaultConfig()
			cfg.ImageRepositories, cfg.ImageTag, cfg.ImageVerify = []string{tt.repo}, "t1", meta.VerifyOff
			cfg.ImageSource = meta.SourcePrebuilt
			env := &Env{Config: cfg, Paths: meta.Paths{ConfigFile: filepath.Join(cfgDir, "config.json")}}
			rows := Run(context.Background(), env, []CheckFunc{Registries})
			if got := statuses(rows); got != "registry "+tt.repo+"="+tt.want {
				t.Errorf("got %s, want %s: %v", got, tt.want, rows)
			}
			if all := fmt.Sprint(rows); !strings.Contains(all, tt.detail) {
				t.Errorf("no %q in %v", tt.detail, rows)
			}
		})
	}
}
