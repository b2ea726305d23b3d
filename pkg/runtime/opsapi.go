package runtime

import (
	"context"
	"fmt"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
)

// The few containerd reads pkg/ops needs, as named methods: no caller
// outside pkg/runtime reaches the containerd client itself.

// ImageSize is the size of img's content for the client's platform (what
// `occ status` shows as the images' disk use).
func (s *ImageStore) ImageSize(ctx context.Context, img images.Image) (int64, error) {
	return containerd.NewImage(s.c.Client, img).Size(s.c.WithNamespace(ctx))
}

// PullStores are the content store, image records and leases a pull
// writes into (registry.Pull takes them).
func (s *ImageStore) PullStores() registry.Stores {
	return registry.Stores{Content: s.c.ContentStore(), Images: s.c.ImageService(), Leases: s.c.LeasesService()}
}

// Namespaces lists containerd's namespaces.
func (c *Client) Namespaces(ctx context.Context) ([]string, error) {
	return c.NamespaceService().List(ctx)
}

// InNamespace is the same connection scoped to another namespace.
func (c *Client) InNamespace(ns string) *Client {
	return &Client{Client: c.Client, Address: c.Address, Namespace: ns, Snapshotter: c.Snapshotter}
}

// ManagedContainers lists the IDs of the containers occ made in the
// client's namespace (the managed-by label).
func (c *Client) ManagedContainers(ctx context.Context) ([]string, error) {
	list, err := c.Containers(namespaces.WithNamespace(ctx, c.Namespace), fmt.Sprintf("labels.%q==%s", meta.ManagedByLabel, meta.ManagedByValue))
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(list))
	for _, ctr := range list {
		ids = append(ids, ctr.ID())
	}
	return ids, nil
}
