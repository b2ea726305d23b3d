//go:build integration

package integration

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
)

// TestPullBoundedExpansion: a layer that expands far more than the bound
// on unverified bytes (a 24 MiB file of zeros, gzip ~1000:1) still pulls,
// in-process, through the real snapshotter: its blob is stored (digest
// verified) and applied from the store. The same layer's bytes replaced
// by a gzip bomb of the declared size fail on the digest, leaving no
// snapshot, lease or image. (How much the bomb may write before that is
// measured in pkg/runtime's TestApplyBoundsUnverifiedExpansion.)
func TestPullBoundedExpansion(t *testing.T) {
	_, reg := testbed(t)
	zeros := strings.Repeat("\x00", 24<<20)
	for _, mode := range []string{"local-content", "content-api"} {
		t.Run(mode, func(t *testing.T) {
			stamp := fmt.Sprint(time.Now().UnixNano())
			img, err := mutate.AppendLayers(empty.Image,
				tarLayer(t, map[string]string{"stamp": stamp}),
				tarLayer(t, map[string]string{"zeros": zeros, "stamp2": stamp}))
			if err != nil {
				t.Fatal(err)
			}
			cf, _ := img.ConfigFile()
			cf = cf.DeepCopy()
			cf.OS, cf.Architecture = "linux", "amd64"
			if img, err = mutate.ConfigFile(img, cf); err != nil {
				t.Fatal(err)
			}
			repo := reg + "/it/pull-bomb-" + mode
			push(t, repo+":"+stamp, img)
			layers, _ := img.Layers()
			bigDigest, _ := layers[1].Digest()
			bigSize, _ := layers[1].Size()

			e := newPullEnv(t)
			var opts []registry.Option
			if mode == "local-content" {
				root, err := e.client.LocalContentRoot(e.ctx)
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, registry.WithLocalContentRoot(root))
			}

			// The bomb first (the blob is then not in the store yet).
			bomb := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				resp, err := http.DefaultTransport.RoundTrip(r)
				if err != nil || !strings.HasSuffix(r.URL.Path, "/blobs/"+bigDigest.String()) || resp.StatusCode != http.StatusOK {
					return resp, err
				}
				resp.Body.Close()
				var b bytes.Buffer
				zw := gzip.NewWriter(&b)
				_, _ = zw.Write(make([]byte, 1000*bigSize))
				_ = zw.Close()
				body := append(b.Bytes(), make([]byte, bigSize)...)[:bigSize]
				resp.Body = io.NopCloser(bytes.NewReader(body))
				return resp, nil
			})
			_, err = e.pull(registry.Source{Repositories: []string{repo}, Tag: stamp}, nil, append(opts, registry.WithTransport(bomb))...)
			if !errors.Is(err, registry.ErrDigestMismatch) {
				t.Fatalf("bomb: err = %v, want a digest mismatch", err)
			}
			if _, err := e.client.ImageService().Get(e.ctx, meta.CurrentImageName); !errdefs.IsNotFound(err) {
				t.Errorf("image recorded after a failed pull (%v)", err)
			}
			e.assertNoLeases()
			e.assertNoSnapshots()

			// The real bytes: pulled and unpacked in-process.
			res, err := e.pull(registry.Source{Repositories: []string{repo}, Tag: stamp}, nil, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if !res.InProcessUnpack {
				t.Errorf("not unpacked in-process: %q", res.UnpackNote)
			}
			e.assertUnpacked(res, amd64)
			e.assertNoLeases()
		})
	}
}
