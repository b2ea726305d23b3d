package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// rangeChunk is the range size the tests force: test layers are ~64 KiB,
// so every layer goes in 4-5 ranges, 3 at a time.
const rangeChunk = 16 << 10

func withTestRanges() Option { return WithRangedFetch(0, rangeChunk, 3) }

// serveRange answers r's "bytes=a-b" from body with 206, or returns false.
func parseRange(t *testing.T, r *http.Request) (a, b int, ok bool) {
	t.Helper()
	rg := r.Header.Get("Range")
	if rg == "" {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(rg, "bytes=%d-%d", &a, &b); err != nil {
		t.Errorf("unexpected Range %q", rg)
		return 0, 0, false
	}
	return a, b, true
}

// TestPullRanged: large layers come in ranges, on the streaming path and
// on the content-only path, and every fault on one range is healed on that
// range alone.
func TestPullRanged(t *testing.T) {
	img := testImage(t, "7.0.0")
	layer := layerDigest(t, img, 1)
	body := layerBytes(t, img, 1)
	if len(body) <= 3*rangeChunk {
		t.Fatalf("test layer of %d bytes is too small for ranges of %d", len(body), rangeChunk)
	}
	isLayer := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+layer)
	}
	tests := []struct {
		name  string
		fault func(t *testing.T) func(w http.ResponseWriter, r *http.Request, n int) bool
		// check gets the layer's requests in order.
		check   func(t *testing.T, gets []string, retries int)
		wantErr error
		opts    []Option
	}{{
		name:  "no faults",
		fault: func(*testing.T) func(http.ResponseWriter, *http.Request, int) bool { return nil },
		check: func(t *testing.T, gets []string, retries int) {
			want := (len(body) + rangeChunk - 1) / rangeChunk
			if len(gets) != want || retries != 0 {
				t.Errorf("%d requests, %d retries, want %d ranges and none: %v", len(gets), retries, want, gets)
			}
			// Every range once (in any order: they run in parallel).
			seen := map[string]bool{}
			for _, g := range gets {
				seen[g[strings.Index(g, "Range:"):]] = true
			}
			for off := 0; off < len(body); off += rangeChunk {
				if r := fmt.Sprintf("Range:bytes=%d-%d", off, min(off+rangeChunk, len(body))-1); !seen[r] {
					t.Errorf("no request for %s: %v", r, gets)
				}
			}
		},
	}, {
		name:  "a first range that came fast: the rest in one stream",
		fault: func(*testing.T) func(http.ResponseWriter, *http.Request, int) bool { return nil },
		opts:  []Option{withRangedFastRate(1)},
		check: func(t *testing.T, gets []string, retries int) {
			want := []string{fmt.Sprintf("Range:bytes=0-%d", rangeChunk-1), fmt.Sprintf("Range:bytes=%d-%d", rangeChunk, len(body)-1)}
			if len(gets) != 2 || !strings.HasSuffix(gets[0], want[0]) || !strings.HasSuffix(gets[1], want[1]) {
				t.Errorf("requests %v, want %v", gets, want)
			}
		},
	}, {
		name: "registry ignores Range: one stream",
		fault: func(*testing.T) func(http.ResponseWriter, *http.Request, int) bool {
			return func(w http.ResponseWriter, r *http.Request, n int) bool {
				r.Header.Del("Range")
				return false
			}
		},
		check: func(t *testing.T, gets []string, retries int) {
			// The probe (answered 200, dropped) and the single stream, or,
			// when another layer's probe came first, the stream alone.
			if len(gets) > 2 || retries != 0 || strings.Contains(gets[len(gets)-1], "Range:") {
				t.Errorf("requests %v, %d retries: want (the probe and) one stream", gets, retries)
			}
		},
	}, {
		name: "registry refuses ranges with 416: one stream",
		fault: func(*testing.T) func(http.ResponseWriter, *http.Request, int) bool {
			return func(w http.ResponseWriter, r *http.Request, n int) bool {
				if isLayer(r) && r.Header.Get("Range") != "" {
					w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
					return true
				}
				return false
			}
		},
		check: func(t *testing.T, gets []string, retries int) {
			if len(gets) > 2 || strings.Contains(gets[len(gets)-1], "Range:") {
				t.Errorf("requests %v: want (the refused probe and) one whole stream", gets)
			}
		},
	}, {
		name: "a range cut mid-way resumes where it stopped",
		fault: func(t *testing.T) func(http.ResponseWriter, *http.Request, int) bool {
			return func(w http.ResponseWriter, r *http.Request, n int) bool {
				a, b, ok := parseRange(t, r)
				if !isLayer(r) || !ok || a != 2*rangeChunk {
					return false
				}
				w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, len(body)))
				w.Header().Set("Content-Length", strconv.Itoa(b-a+1))
				w.WriteHeader(http.StatusPartialContent)
				_, _ = w.Write(body[a : a+1000])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}
		},
		check: func(t *testing.T, gets []string, retries int) {
			want := fmt.Sprintf("Range:bytes=%d-%d", 2*rangeChunk+1000, 3*rangeChunk-1)
			found := false
			for _, g := range gets {
				found = found || strings.HasSuffix(g, want)
			}
			if !found || retries != 1 {
				t.Errorf("requests %v, %d retries: want one retry asking for %s", gets, retries, want)
			}
		},
	}, {
		name: "a range answered 503 once is retried alone",
		fault: func(t *testing.T) func(http.ResponseWriter, *http.Request, int) bool {
			failed := false
			return func(w http.ResponseWriter, r *http.Request, n int) bool {
				a, _, ok := parseRange(t, r)
				if isLayer(r) && ok && a == rangeChunk && !failed {
					failed = true
					w.WriteHeader(http.StatusServiceUnavailable)
					return true
				}
				return false
			}
		},
		check: func(t *testing.T, gets []string, retries int) {
			want := (len(body)+rangeChunk-1)/rangeChunk + 1
			if len(gets) != want || retries != 1 {
				t.Errorf("%d requests, %d retries, want %d and 1: %v", len(gets), retries, want, gets)
			}
		},
	}, {
		name: "a range with other bytes fails the digest check",
		fault: func(t *testing.T) func(http.ResponseWriter, *http.Request, int) bool {
			return func(w http.ResponseWriter, r *http.Request, n int) bool {
				a, b, ok := parseRange(t, r)
				if !isLayer(r) || !ok || a != rangeChunk {
					return false
				}
				w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, len(body)))
				w.Header().Set("Content-Length", strconv.Itoa(b-a+1))
				w.WriteHeader(http.StatusPartialContent)
				_, _ = w.Write(make([]byte, b-a+1))
				return true
			}
		},
		wantErr: ErrDigestMismatch,
	}, {
		name: "a range answered with another range: the rest in one stream",
		fault: func(t *testing.T) func(http.ResponseWriter, *http.Request, int) bool {
			return func(w http.ResponseWriter, r *http.Request, n int) bool {
				a, b, ok := parseRange(t, r)
				if !isLayer(r) || !ok || a != 2*rangeChunk {
					return false
				}
				w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a+1, b, len(body)))
				w.WriteHeader(http.StatusPartialContent)
				_, _ = w.Write(body[a+1 : b+1])
				return true
			}
		},
		check: func(t *testing.T, gets []string, retries int) {
			if last := gets[len(gets)-1]; strings.Contains(last, "Range:") {
				t.Errorf("requests %v: want the blob in one stream at the end", gets)
			}
		},
	}}
	for _, tc := range tests {
		for _, stream := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/stream=%v", tc.name, stream), func(t *testing.T) {
				reg := newFaultRegistry(t)
				repo := reg.push(t, "ranged:latest", img)
				reg.setFault(tc.fault(t))
				e := newEnv(t)
				rec := &recorder{}
				opts := append([]Option{withTestRanges()}, tc.opts...)
				var fs *fakeStream
				if stream {
					fs = newFakeStream()
					opts = append(opts, WithUnpacker(fs))
				}
				_, err := e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, rec, opts...)
				var gets []string
				for _, r := range reg.requests() {
					if strings.Contains(r, "/blobs/"+layer) {
						gets = append(gets, r)
					}
				}
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("err = %v, want %v", err, tc.wantErr)
					}
					e.assertClean(t, nil)
					if sts, _ := e.stores.Content.ListStatuses(e.ctx); stream && len(sts) != 0 {
						t.Errorf("ingests left: %v", sts)
					}
					return
				}
				if err != nil {
					t.Fatalf("pull: %v\nrequests: %v", err, gets)
				}
				if stream && !fs.last().committed {
					t.Errorf("stream not committed")
				}
				rb, err := content.ReadBlob(e.ctx, e.stores.Content, ocispec.Descriptor{Digest: digest.Digest(layer), Size: int64(len(body))})
				if err != nil || string(rb) != string(body) {
					t.Errorf("stored layer differs (%v)", err)
				}
				retries := 0
				for _, ev := range rec.kinds(EventRetry) {
					if ev.Digest.String() == layer {
						retries++
					}
				}
				tc.check(t, gets, retries)
			})
		}
	}
}
