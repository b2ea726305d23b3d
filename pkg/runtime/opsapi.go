package runtime

import (
	"context"
	"maps"
	"slices"

	"github.com/containerd/containerd/v2/core/images"

	"github.com/opencode-cloud/occ/pkg/registry"
)

// The few containerd reads pkg/ops needs, as named methods: no caller
// outside pkg/runtime reaches the containerd client itself.

// ImageSize is the size of img's content for the client's platform (what
// `occ status` shows as the images' disk use).
func (s *ImageStore) ImageSize(ctx context.Context, img images.Image) (int64, error) {
	return s.c.ImageSize(ctx, img)
}

// PullStores are the content store, image records and leases a pull
// writes into (registry.Pull takes them).
// The records it writes carry the client's ImageLabels, as SetImage's do.
func (s *ImageStore) PullStores() registry.Stores {
	var is images.Store = s.c.ImageService()
	if len(s.c.ImageLabels) > 0 {
		is = labelledImages{Store: is, labels: s.c.ImageLabels}
	}
	return registry.Stores{Content: s.c.ContentStore(), Images: is, Leases: s.c.LeasesService()}
}

// labelledImages adds labels to every record it creates, and to every
// update that sets a record's labels.
type labelledImages struct {
	images.Store
	labels map[string]string
}

func (l labelledImages) with(img images.Image) images.Image {
	m := make(map[string]string, len(img.Labels)+len(l.labels))
	maps.Copy(m, img.Labels)
	maps.Copy(m, l.labels)
	img.Labels = m
	return img
}

func (l labelledImages) Create(ctx context.Context, img images.Image) (images.Image, error) {
	return l.Store.Create(ctx, l.with(img))
}

func (l labelledImages) Update(ctx context.Context, img images.Image, fieldpaths ...string) (images.Image, error) {
	if len(fieldpaths) == 0 || slices.Contains(fieldpaths, "labels") {
		img = l.with(img)
	}
	return l.Store.Update(ctx, img, fieldpaths...)
}
