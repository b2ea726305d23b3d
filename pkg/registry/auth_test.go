package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// basicAuthRegistry is the in-memory registry behind HTTP basic auth.
func basicAuthRegistry(t *testing.T, user, pass string) string {
	t.Helper()
	h := ggcrregistry.New(ggcrregistry.Logger(nopLogger()))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestLoginLogout: occ login checks the credentials against a registry
// with basic auth and writes them to $DOCKER_CONFIG/config.json as docker
// login does (base64 user:password under auths, the file 0600, other
// entries kept); wrong ones are refused and nothing is written; a pull
// then reads them through the keychain; logout removes them.
func TestLoginLogout(t *testing.T) {
	host := basicAuthRegistry(t, "alice", "s3cret")
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	cfgFile := filepath.Join(dir, "config.json")
	writeFile(t, cfgFile, []byte(`{"auths":{"other.example":{"auth":"b3RoZXI6eA=="}},"psFormat":"table"}`))
	ctx := context.Background()

	for _, tc := range []struct{ name, user, pass, registry, want string }{
		{"wrong password", "alice", "nope", host, "refused"},
		{"no password", "alice", "", host, "password"},
		{"not a host", "alice", "s3cret", host + "/repo", "not a registry host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Login(ctx, LoginOptions{Registry: tc.registry, Username: tc.user, Password: tc.pass})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
			if data, _ := os.ReadFile(cfgFile); strings.Contains(string(data), host) {
				t.Fatalf("a refused login wrote %s: %s", cfgFile, data)
			}
		})
	}
	_, err := Login(ctx, LoginOptions{Registry: host, Username: "alice", Password: "nope"})
	if !errdefs.IsUnauthorized(err) {
		t.Errorf("wrong password: %v is not classified as unauthenticated", err)
	}

	file, err := Login(ctx, LoginOptions{Registry: host, Username: "alice", Password: "s3cret"})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if file != cfgFile {
		t.Errorf("wrote %s, want %s", file, cfgFile)
	}
	var cf struct {
		Auths    map[string]struct{ Auth string } `json:"auths"`
		PSFormat string                           `json:"psFormat"`
	}
	data, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &cf); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	if got := cf.Auths[host].Auth; got != base64.StdEncoding.EncodeToString([]byte("alice:s3cret")) {
		t.Errorf("auths[%s].auth = %q", host, got)
	}
	if cf.Auths["other.example"].Auth == "" || cf.PSFormat != "table" {
		t.Errorf("other entries lost: %s", data)
	}
	if fi, err := os.Stat(cfgFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, %v; want 0600", cfgFile, fi.Mode(), err)
	}

	// A pull finds them through the keychain occ uses.
	e := newEnv(t)
	img := testImage(t, "1.0")
	ref := host + "/test/img"
	if err := pushWithAuth(ref+":1", img, "alice", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if _, err := Pull(e.ctx, e.stores, Source{Repositories: []string{ref}, Tag: "1"},
		WithPlatform(amd64), WithRetry(0, 0), WithKeychain(Keychain)); err != nil {
		t.Fatalf("pull with the stored login: %v", err)
	}

	if _, removed, err := Logout(host); err != nil || !removed {
		t.Fatalf("logout: removed %v, %v", removed, err)
	}
	data, _ = os.ReadFile(cfgFile)
	if strings.Contains(string(data), host) || !strings.Contains(string(data), "other.example") {
		t.Errorf("after logout: %s", data)
	}
	if _, removed, err := Logout(host); err != nil || removed {
		t.Errorf("second logout: removed %v, %v; want nothing to remove", removed, err)
	}
}

func pushWithAuth(ref string, img v1.Image, user, pass string) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	return remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: user, Password: pass}))
}

func TestAuthKey(t *testing.T) {
	for in, want := range map[string]string{
		"docker.io":              "https://index.docker.io/v1/",
		"index.docker.io":        "https://index.docker.io/v1/",
		"ghcr.io":                "ghcr.io",
		"127.0.0.1:5000":         "127.0.0.1:5000",
		"ghcr.io/opencode-cloud": "",
		"":                       "",
	} {
		got, err := AuthKey(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("AuthKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
