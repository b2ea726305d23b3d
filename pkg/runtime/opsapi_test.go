package runtime

import (
	"context"
	"maps"
	"testing"

	"github.com/containerd/containerd/v2/core/images"
)

// recordingImages keeps what Create and Update were given.
type recordingImages struct {
	images.Store
	got []images.Image
}

func (r *recordingImages) Create(_ context.Context, img images.Image) (images.Image, error) {
	r.got = append(r.got, img)
	return img, nil
}

func (r *recordingImages) Update(_ context.Context, img images.Image, _ ...string) (images.Image, error) {
	r.got = append(r.got, img)
	return img, nil
}

func TestLabelledImages(t *testing.T) {
	inst := map[string]string{"org.opencode-cloud.instance": "dev"}
	for _, tc := range []struct {
		name   string
		update bool
		fields []string
		want   map[string]string
	}{
		{"create", false, nil, map[string]string{"a": "1", "org.opencode-cloud.instance": "dev"}},
		{"update labels", true, []string{"labels"}, map[string]string{"a": "1", "org.opencode-cloud.instance": "dev"}},
		{"update all", true, nil, map[string]string{"a": "1", "org.opencode-cloud.instance": "dev"}},
		{"update target only", true, []string{"target"}, map[string]string{"a": "1"}},
	} {
		rec := &recordingImages{}
		l := labelledImages{Store: rec, labels: inst}
		in := images.Image{Name: "x", Labels: map[string]string{"a": "1"}}
		if tc.update {
			_, _ = l.Update(context.Background(), in, tc.fields...)
		} else {
			_, _ = l.Create(context.Background(), in)
		}
		if len(rec.got) != 1 || !maps.Equal(rec.got[0].Labels, tc.want) {
			t.Errorf("%s: wrote %v, want labels %v", tc.name, rec.got, tc.want)
		}
		if len(in.Labels) != 1 {
			t.Errorf("%s: the caller's labels were changed: %v", tc.name, in.Labels)
		}
	}
}
