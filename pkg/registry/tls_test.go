package registry

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// dialOnly is a transport that sends every connection, whatever the host
// name, to addr: it lets a test give an httptest server a non-loopback
// name (registry.test, a private address) without DNS or a route.
func dialOnly(addr string) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return t
}

// TestTLSVerification: a registry with a certificate this machine does not
// trust is refused with an error that says why and how to proceed, unless
// it is listed in insecure_registries (or is on loopback); plain HTTP is
// refused for every registry that is neither.
func TestTLSVerification(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(ggcrregistry.New(ggcrregistry.Logger(nopLogger())))
	tlsSrv.Config.ErrorLog = nopLogger() // the refused handshakes are the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	plainSrv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(nopLogger())))
	t.Cleanup(plainSrv.Close)
	img := testImage(t, "1.0")
	for _, srv := range []*httptest.Server{tlsSrv, plainSrv} {
		host := strings.TrimPrefix(strings.TrimPrefix(srv.URL, "https://"), "http://")
		ref, err := name.ParseReference(host + "/test/img:1")
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithTransport(srv.Client().Transport)); err != nil {
			t.Fatalf("push to %s: %v", host, err)
		}
	}
	tlsAddr := tlsSrv.Listener.Addr().String()
	plainAddr := plainSrv.Listener.Addr().String()

	tests := []struct {
		name     string
		registry string // the name occ is given
		addr     string // where it really is
		insecure []string
		wantErr  []string // substrings of the error; nil: the pull succeeds
	}{
		{name: "self-signed TLS, not listed", registry: "registry.test:5443", addr: tlsAddr,
			wantErr: []string{"certificate", "not trusted", "insecure_registries"}},
		{name: "self-signed TLS, listed insecure", registry: "registry.test:5443", addr: tlsAddr, insecure: []string{"registry.test:5443"}},
		{name: "self-signed TLS, another host listed", registry: "registry.test:5443", addr: tlsAddr, insecure: []string{"other.test:5443"},
			wantErr: []string{"certificate"}},
		{name: "self-signed TLS on loopback", registry: tlsAddr, addr: tlsAddr},
		{name: "plain HTTP, private address, not listed", registry: "10.254.0.1:5000", addr: plainAddr,
			wantErr: []string{"refusing plain HTTP to 10.254.0.1:5000", "insecure_registries"}},
		{name: "plain HTTP, public name, not listed", registry: "registry.test:5000", addr: plainAddr,
			wantErr: []string{"registry.test:5000"}},
		{name: "plain HTTP, listed insecure", registry: "10.254.0.1:5000", addr: plainAddr, insecure: []string{"10.254.0.1:5000"}},
		{name: "plain HTTP on loopback", registry: plainAddr, addr: plainAddr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			rec := &recorder{}
			src := Source{Repositories: []string{tc.registry + "/test/img"}, Tag: "1"}
			res, err := e.pull(src, rec, WithTransport(dialOnly(tc.addr)), WithInsecureRegistries(tc.insecure))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("pull: %v", err)
				}
				want, _ := img.Digest()
				if res.Image.Target.Digest.String() != want.String() {
					t.Fatalf("pulled %s, want %s", res.Image.Target.Digest, want)
				}
				return
			}
			if err == nil {
				t.Fatalf("pull from %s succeeded; want it refused", tc.registry)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q:\n%v", s, err)
				}
			}
			if errdefs.IsUnknown(err) && strings.Contains(err.Error(), "certificate") {
				t.Logf("note: unclassified: %v", err)
			}
			if n := len(rec.kinds(EventRetry)); n != 0 {
				t.Errorf("a refused registry was retried %d times", n)
			}
			e.assertClean(t, nil)
		})
	}
}
