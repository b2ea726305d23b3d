package runtime

import (
	"context"

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
func (s *ImageStore) PullStores() registry.Stores {
	return registry.Stores{Content: s.c.ContentStore(), Images: s.c.ImageService(), Leases: s.c.LeasesService()}
}
