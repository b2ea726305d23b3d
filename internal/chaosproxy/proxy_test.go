package chaosproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// upstream serves a fixed manifest per tag and a 100-byte blob.
func upstream(t *testing.T) string {
	blob := strings.Repeat("0123456789", 10)
	mux := http.NewServeMux()
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case strings.HasSuffix(r.URL.Path, "/manifests/latest"):
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("a", 64))
			_, _ = io.WriteString(w, `{"config":{"digest":"sha256:cfg"},"layers":[{"digest":"sha256:l0"},{"digest":"sha256:l1"}],"repo":"`+strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/latest")+`"}`)
		case strings.Contains(r.URL.Path, "/blobs/"):
			http.ServeContent(w, r, "blob", time.Time{}, strings.NewReader(blob))
		default:
			http.NotFound(w, r)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func get(t *testing.T, addr, path string) (*http.Response, string, error) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestProxy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, addr, err := Start(ctx, upstream(t))
	if err != nil {
		t.Fatal(err)
	}
	// Learn the manifest's blobs, then act on the second request for layer:1 only.
	p.Set(Schedule{Rules: []Rule{
		{Kind: KindBlob, Ref: "layer:1", Nth: 2, Action: Action{Type: Status, Status: 503, RetryAfter: "7"}},
		{Kind: KindBlob, Ref: "config", Count: Forever, Action: Action{Type: Cut, Bytes: 10}},
		{Kind: KindManifest, Repo: "swap/me", Action: Action{Type: Swap, Other: "other/repo:latest"}},
		{Kind: KindBlob, Ref: "sha256:flip", Action: Action{Type: Flip, Offset: 3}},
		{Kind: KindBlob, Ref: "sha256:short", Action: Action{Type: Truncate, Bytes: 5}},
	}})
	if _, body, err := get(t, addr, "/v2/a/b/manifests/latest"); err != nil || !strings.Contains(body, "sha256:l1") {
		t.Fatalf("manifest through the proxy: %q %v", body, err)
	}
	if resp, _, err := get(t, addr, "/v2/a/b/blobs/sha256:l1"); err != nil || resp.StatusCode != 200 {
		t.Errorf("first layer:1 request: %v %v", resp, err)
	}
	if resp, _, err := get(t, addr, "/v2/a/b/blobs/sha256:l1"); err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "7" {
		t.Errorf("second layer:1 request: %v %v", resp, err)
	}
	if resp, _, err := get(t, addr, "/v2/a/b/blobs/sha256:l1"); err != nil || resp.StatusCode != 200 {
		t.Errorf("third layer:1 request: %v %v", resp, err)
	}
	_, body, err := get(t, addr, "/v2/a/b/blobs/sha256:cfg")
	if !errors.Is(err, io.ErrUnexpectedEOF) || body != "0123456789" {
		t.Errorf("cut config: %q %v, want 10 bytes then unexpected EOF", body, err)
	}
	if _, body, err := get(t, addr, "/v2/swap/me/manifests/latest"); err != nil || !strings.Contains(body, `"repo":"other/repo"`) {
		t.Errorf("swapped manifest: %q %v", body, err)
	}
	if _, body, err := get(t, addr, "/v2/a/b/blobs/sha256:flip"); err != nil || body[3] != '3'^0xff || body[:3] != "012" {
		t.Errorf("flipped blob: %q %v", body, err)
	}
	if resp, body, err := get(t, addr, "/v2/a/b/blobs/sha256:short"); err != nil || body != "01234" || resp.ContentLength != 5 {
		t.Errorf("truncated blob: %q %v", body, err)
	}
	acted := 0
	for _, e := range p.Log() {
		if e.Rule >= 0 {
			acted++
		}
	}
	if acted != 5 {
		t.Errorf("%d requests acted on, want 5: %+v", acted, p.Log())
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		path, repo, ref string
		kind            Kind
	}{
		{"/v2/", "", "", KindPing},
		{"/v2/a/b/manifests/latest", "a/b", "latest", KindManifest},
		{"/v2/x/blobs/sha256:1", "x", "sha256:1", KindBlob},
		{"/v2/x/blobs/uploads/", "", "", KindOther},
		{"/v2/x/blobs/uploads/abc", "", "", KindOther},
		{"/token", "", "", KindOther},
	} {
		k, repo, ref := classify(tc.path)
		if k != tc.kind || repo != tc.repo || ref != tc.ref {
			t.Errorf("%s: %s %q %q", tc.path, k, repo, ref)
		}
	}
}
