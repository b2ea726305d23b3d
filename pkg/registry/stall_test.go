package registry

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A registry that stops sending mid-blob (or before its headers) is given
// up on after the stall timeout and the request retried; before, the pull
// waited forever.
func TestPullStallTimeout(t *testing.T) {
	img := testImage(t, "4.1.0")
	layer := layerDigest(t, img, 1)
	body := layerBytes(t, img, 1)
	for _, tc := range []struct {
		name        string
		beforeBytes bool
		manifest    bool // the manifest stalls (read by go-containerregistry's remote.Get), not a layer
	}{{"stalled mid-body", false, false}, {"stalled before the headers", true, false}, {"manifest stalled mid-body", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newFaultRegistry(t)
			repo := reg.push(t, "stall:latest", img)
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			reg.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
				target := strings.HasSuffix(r.URL.Path, "/blobs/"+layer)
				if tc.manifest {
					target = strings.Contains(r.URL.Path, "/manifests/")
				}
				if r.Method != http.MethodGet || !target || n > 0 {
					return false
				}
				switch {
				case tc.manifest:
					w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
					w.WriteHeader(http.StatusOK)
					_, _ = w.Write([]byte(`{"schemaVersion": 2,`))
					w.(http.Flusher).Flush()
				case !tc.beforeBytes:
					w.WriteHeader(http.StatusOK)
					_, _ = w.Write(body[:len(body)/3])
					w.(http.Flusher).Flush()
				}
				select { // stall until the client gives up (or the test ends)
				case <-r.Context().Done():
				case <-release:
				}
				panic(http.ErrAbortHandler)
			})
			e := newEnv(t)
			rec := &recorder{}
			done := make(chan error, 1)
			go func() {
				_, err := e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, rec, WithStallTimeout(200*time.Millisecond))
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("pull: %v", err)
				}
			case <-time.After(time.Minute):
				t.Fatal("the pull still waits on the stalled registry after a minute")
			}
			retries := rec.kinds(EventRetry)
			if len(retries) == 0 {
				t.Fatal("no retry after the stall")
			}
			var ne interface{ Timeout() bool }
			if !errors.As(retries[0].Err, &ne) || !ne.Timeout() {
				t.Errorf("retry cause %v is not a timeout", retries[0].Err)
			}
		})
	}
}
