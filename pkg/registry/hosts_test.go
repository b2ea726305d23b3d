package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testCA is a private certificate authority: the machine does not trust
// it, so only hosts.toml's ca makes its certificates acceptable.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "occ test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate for names (server) or a client certificate,
// as a tls.Certificate and its PEM files.
func (ca *testCA) issue(t *testing.T, client bool, names ...string) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "occ test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: names, ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certPEM, keyPEM
}

// tlsRegistry is go-containerregistry's in-memory registry behind TLS
// with a certificate from ca for names, logging the requests it serves.
type tlsRegistry struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []string
}

func newTLSRegistry(t *testing.T, ca *testCA, clientCAs bool, names ...string) *tlsRegistry {
	t.Helper()
	r := &tlsRegistry{}
	h := ggcrregistry.New(ggcrregistry.Logger(nopLogger()))
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	pair, _, _ := ca.issue(t, false, names...)
	r.srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	if clientCAs {
		pool := x509.NewCertPool()
		pool.AddCert(ca.cert)
		r.srv.TLS.ClientCAs, r.srv.TLS.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	r.srv.Config.ErrorLog = nopLogger()
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *tlsRegistry) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

// push writes img to ref on r (the test talks to it directly).
func (r *tlsRegistry) push(t *testing.T, ca *testCA, client *tls.Certificate, repo string, img v1.Image) {
	t.Helper()
	tr := dialOnly(r.srv.Listener.Addr().String())
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: "registry.test"}
	if client != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*client}
	}
	ref, err := name.ParseReference("registry.test/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithTransport(tr)); err != nil {
		t.Fatalf("push %s: %v", repo, err)
	}
}

// dialMap sends connections for each host:port to an address.
func dialMap(routes map[string]string) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		if to, ok := routes[addr]; ok {
			addr = to
		}
		return d.DialContext(ctx, network, addr)
	}
	return t
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestHostsTLS: a registry whose certificate comes from a private CA is
// refused until certs.d/<host>/hosts.toml names the CA; one that asks for
// a client certificate is served once hosts.toml names one. The second
// directory (standing in for /etc/containerd/certs.d) is read when the
// first has nothing for the host.
func TestHostsTLS(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	img := testImage(t, "1.0")
	plain := newTLSRegistry(t, ca, false, "registry.test")
	plain.push(t, ca, nil, "test/img:1", img)
	mtls := newTLSRegistry(t, ca, true, "registry.test")
	clientPair, clientCert, clientKey := ca.issue(t, true)
	mtls.push(t, ca, &clientPair, "test/img:1", img)

	const host = "registry.test:5443"
	hostDir := "registry.test_5443_"
	tests := []struct {
		name    string
		srv     *tlsRegistry
		files   map[string][]byte // under the first (user) and second (system) dirs: "user/..." or "system/..."
		wantErr string
	}{
		{name: "private CA, no hosts.toml", srv: plain, wantErr: "not trusted"},
		{name: "private CA in hosts.toml", srv: plain, files: map[string][]byte{
			"user/" + hostDir + "/hosts.toml": []byte("server = \"https://" + host + "\"\nca = \"ca.pem\"\n"),
			"user/" + hostDir + "/ca.pem":     ca.pem,
		}},
		{name: "private CA in the system dir", srv: plain, files: map[string][]byte{
			"system/" + hostDir + "/hosts.toml": []byte("ca = \"ca.pem\"\n"),
			"system/" + hostDir + "/ca.pem":     ca.pem,
		}},
		{name: "user dir wins over system dir", srv: plain, wantErr: "certificate", files: map[string][]byte{
			"user/" + hostDir + "/hosts.toml":   []byte("ca = \"ca.pem\"\n"),
			"user/" + hostDir + "/ca.pem":       other.pem,
			"system/" + hostDir + "/hosts.toml": []byte("ca = \"ca.pem\"\n"),
			"system/" + hostDir + "/ca.pem":     ca.pem,
		}},
		{name: "another CA", srv: plain, wantErr: "certificate", files: map[string][]byte{
			"user/" + hostDir + "/hosts.toml": []byte("ca = \"ca.pem\"\n"),
			"user/" + hostDir + "/ca.pem":     other.pem,
		}},
		{name: "skip_verify", srv: plain, files: map[string][]byte{
			"user/" + hostDir + "/hosts.toml": []byte("skip_verify = true\n"),
		}},
		{name: "client certificate required, none given", srv: mtls, wantErr: "certificate", files: map[string][]byte{
			"user/" + hostDir + "/hosts.toml": []byte("ca = \"ca.pem\"\n"),
			"user/" + hostDir + "/ca.pem":     ca.pem,
		}},
		{name: "client certificate", srv: mtls, files: map[string][]byte{
			"user/" + hostDir + "/hosts.toml": []byte("ca = \"ca.pem\"\nclient = [[\"client.pem\", \"client.key\"]]\n"),
			"user/" + hostDir + "/ca.pem":     ca.pem,
			"user/" + hostDir + "/client.pem": clientCert,
			"user/" + hostDir + "/client.key": clientKey,
		}},
		{name: "broken hosts.toml", srv: plain, wantErr: "hosts.toml", files: map[string][]byte{
			"user/" + hostDir + "/hosts.toml": []byte("ca = [\n"),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for p, data := range tc.files {
				writeFile(t, filepath.Join(root, p), data)
			}
			e := newEnv(t)
			src := Source{Repositories: []string{host + "/test/img"}, Tag: "1"}
			tr := dialMap(map[string]string{host: tc.srv.srv.Listener.Addr().String()})
			res, err := e.pull(src, &recorder{}, WithTransport(tr),
				WithHosts(NewHosts(filepath.Join(root, "user"), filepath.Join(root, "system"))))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				e.assertClean(t, nil)
				return
			}
			if err != nil {
				t.Fatalf("pull: %v", err)
			}
			want, _ := img.Digest()
			if res.Image.Target.Digest.String() != want.String() {
				t.Fatalf("pulled %s, want %s", res.Image.Target.Digest, want)
			}
		})
	}
}

// TestHostsMirror: blobs and manifests are asked of the mirrors in order
// before the registry; a mirror without the content (404) or unreachable
// passes the request on; the tag resolves at the mirror only when its
// capabilities include resolve; the registry answers the ping.
func TestHostsMirror(t *testing.T) {
	ca := newTestCA(t)
	img := testImage(t, "1.0")
	want, _ := img.Digest()
	upstream := newTLSRegistry(t, ca, false, "registry.test")
	upstream.push(t, ca, nil, "test/img:1", img)
	mirror := newTLSRegistry(t, ca, false, "mirror.test", "registry.test")
	mirror.push(t, ca, nil, "test/img:1", img) // the name pushed to does not matter: the server is in memory
	empty := newTLSRegistry(t, ca, false, "empty.test", "registry.test")

	const host = "registry.test:5443"
	routes := map[string]string{
		host:               upstream.srv.Listener.Addr().String(),
		"mirror.test:5443": mirror.srv.Listener.Addr().String(),
		"empty.test:5443":  empty.srv.Listener.Addr().String(),
		"down.test:5443":   "127.0.0.1:1", // nothing listens
	}
	count := func(reqs []string, sub string) int {
		n := 0
		for _, r := range reqs {
			if strings.Contains(r, sub) {
				n++
			}
		}
		return n
	}
	tests := []struct {
		name       string
		toml       string
		mirrorBlob bool // the mirror served the blobs
		mirrorTag  bool // the mirror resolved the tag
	}{
		{name: "mirror with pull and resolve", mirrorBlob: true, mirrorTag: true,
			toml: "[host.\"https://mirror.test:5443\"]\ncapabilities = [\"pull\", \"resolve\"]\n"},
		{name: "mirror with pull only: the tag resolves at the registry", mirrorBlob: true,
			toml: "[host.\"https://mirror.test:5443\"]\ncapabilities = [\"pull\"]\n"},
		{name: "a mirror that is down, then an empty one, then a good one", mirrorBlob: true, mirrorTag: true,
			toml: "[host.\"https://down.test:5443\"]\ncapabilities = [\"pull\", \"resolve\"]\n" +
				"[host.\"https://empty.test:5443\"]\ncapabilities = [\"pull\", \"resolve\"]\n" +
				"[host.\"https://mirror.test:5443\"]\ncapabilities = [\"pull\", \"resolve\"]\n"},
		{name: "only an empty mirror: the registry serves"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.toml == "" {
				tc.toml = "[host.\"https://empty.test:5443\"]\ncapabilities = [\"pull\", \"resolve\"]\n"
			}
			root := t.TempDir()
			writeFile(t, filepath.Join(root, "registry.test_5443_", "ca.pem"), ca.pem)
			for _, r := range []*tlsRegistry{upstream, mirror, empty} {
				r.mu.Lock()
				r.reqs = nil
				r.mu.Unlock()
			}
			// The mirrors' own certificates come from the same CA: each
			// [host] section takes the CA too.
			toml := strings.ReplaceAll("ca = \"ca.pem\"\n"+tc.toml, "]\ncapabilities", "]\nca = \"ca.pem\"\ncapabilities")
			writeFile(t, filepath.Join(root, "registry.test_5443_", "hosts.toml"), []byte(toml))

			e := newEnv(t)
			src := Source{Repositories: []string{host + "/test/img"}, Tag: "1"}
			res, err := e.pull(src, &recorder{}, WithTransport(dialMap(routes)), WithHosts(NewHosts(root)))
			if err != nil {
				t.Fatalf("pull: %v", err)
			}
			if res.Image.Target.Digest.String() != want.String() {
				t.Fatalf("pulled %s, want %s", res.Image.Target.Digest, want)
			}
			up, mi := upstream.requests(), mirror.requests()
			if count(up, "GET /v2/") == 0 {
				t.Errorf("the registry was not pinged: %q", up)
			}
			if got := count(mi, "/blobs/") > 0; got != tc.mirrorBlob {
				t.Errorf("mirror served blobs: %v, want %v\nmirror: %q\nregistry: %q", got, tc.mirrorBlob, mi, up)
			}
			if tc.mirrorBlob && count(up, "/blobs/") != 0 {
				t.Errorf("the registry served blobs the mirror had: %q", up)
			}
			if got := count(mi, "/manifests/1") > 0; got != tc.mirrorTag {
				t.Errorf("mirror resolved the tag: %v, want %v\nmirror: %q\nregistry: %q", got, tc.mirrorTag, mi, up)
			}
		})
	}
}
