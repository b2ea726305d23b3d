package registry

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
)

// lazyTruncStore hands out writers that truncate the way containerd's
// remote (gRPC) writer does: only on the next write, while Status still
// reports the old offset.
type lazyTruncStore struct{ content.Store }

func (s lazyTruncStore) Writer(ctx context.Context, opts ...content.WriterOpt) (content.Writer, error) {
	w, err := s.Store.Writer(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return &lazyTruncWriter{Writer: w, pending: -1}, nil
}

type lazyTruncWriter struct {
	content.Writer
	pending int64
}

func (w *lazyTruncWriter) Truncate(n int64) error { w.pending = n; return nil }

func (w *lazyTruncWriter) Write(b []byte) (int, error) {
	if w.pending >= 0 {
		if err := w.Writer.Truncate(w.pending); err != nil {
			return 0, err
		}
		w.pending = -1
	}
	return w.Writer.Write(b)
}

// A registry that refuses an open-ended Range (416, as crane's registry
// does) after a cut: the partial blob is discarded and fetched again from
// the start. Before, the retry asked for the same range until it gave up,
// because containerd's writer still reported the old offset.
func TestPullRestartsWhenRangeRefused(t *testing.T) {
	img := testImage(t, "4.2.0")
	layer := layerDigest(t, img, 1)
	body := layerBytes(t, img, 1)
	reg := newFaultRegistry(t)
	repo := reg.push(t, "norange:latest", img)
	reg.setFault(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+layer) {
			return false
		}
		if r.Header.Get("Range") != "" {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return true
		}
		if n == 0 {
			cutAfter(w, body, len(body)/2)
		}
		return false
	})
	e := newEnv(t)
	e.stores.Content = lazyTruncStore{e.stores.Content}
	rec := &recorder{}
	if _, err := e.pull(Source{Repositories: []string{repo}, Tag: "latest"}, rec); err != nil {
		t.Fatalf("pull: %v\nrequests: %v", err, reg.requests())
	}
	// cut, refused Range, then the whole blob again within the same
	// attempt: one retry, not one per refusal.
	var gets []string
	for _, r := range reg.requests() {
		if strings.Contains(r, layer) {
			gets = append(gets, r)
		}
	}
	if len(gets) != 3 || !strings.Contains(gets[1], "Range:") || strings.Contains(gets[2], "Range:") {
		t.Errorf("layer requests %v, want: full (cut), ranged (refused), full", gets)
	}
	if n := len(rec.kinds(EventRetry)); n != 1 {
		t.Errorf("%d retries, want 1 (the cut)", n)
	}
}
