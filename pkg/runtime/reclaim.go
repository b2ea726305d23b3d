package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// Usage is what occ's namespace holds in containerd: the content store's
// blobs and the snapshotter's snapshots, in bytes.
type Usage struct {
	Content   int64 `json:"content_bytes"`
	Snapshots int64 `json:"snapshot_bytes"`
}

// Total is content and snapshots together.
func (u Usage) Total() int64 { return u.Content + u.Snapshots }

// Usage sums the sizes of the namespace's blobs and snapshots (a committed
// snapshot's size is what the snapshotter recorded when it was committed;
// an active one's is measured).
func (c *Client) Usage(ctx context.Context) (Usage, error) {
	ctx = c.WithNamespace(ctx)
	var u Usage
	if err := c.ContentStore().Walk(ctx, func(info content.Info) error {
		u.Content += info.Size
		return nil
	}); err != nil {
		return u, fmt.Errorf("measure containerd's content store: %w", err)
	}
	sn := c.ctr.SnapshotService(c.Snapshotter)
	if err := sn.Walk(ctx, func(ctx context.Context, info snapshots.Info) error {
		if du, err := sn.Usage(ctx, info.Name); err == nil {
			u.Snapshots += du.Size
		}
		return nil
	}); err != nil {
		return u, fmt.Errorf("measure the %s snapshots: %w", c.Snapshotter, err)
	}
	return u, nil
}

// CollectGarbage has containerd remove now what nothing references any
// more (an image record replaced by an update, its blobs and unpacked
// snapshots) instead of at its next scheduled collection: deleting a lease
// synchronously runs the collector and waits for it.
func (c *Client) CollectGarbage(ctx context.Context) error {
	ctx = c.WithNamespace(ctx)
	lm := c.ctr.LeasesService()
	// Labelled as occ's other leases: one an occ killed right here leaves
	// expires, and the next occ that takes the lock deletes it
	// (RemoveDeadLeases). It holds nothing.
	l, err := lm.Create(ctx, leases.WithRandomID(), leases.WithExpiration(time.Minute),
		leases.WithLabel(meta.ManagedByLabel, meta.ManagedByValue), leases.WithLabel(meta.LabelOwner, meta.ProcessOwner()))
	if err != nil {
		return fmt.Errorf("containerd garbage collection: %w", err)
	}
	if err := lm.Delete(ctx, l, leases.SynchronousDelete); err != nil {
		return fmt.Errorf("containerd garbage collection: %w", err)
	}
	return nil
}

// Reclaim collects garbage and returns the bytes it freed in the
// namespace (content and snapshots; never negative).
func (c *Client) Reclaim(ctx context.Context) (int64, error) {
	before, err := c.Usage(ctx)
	if err != nil {
		return 0, err
	}
	if err := c.CollectGarbage(ctx); err != nil {
		return 0, err
	}
	after, err := c.Usage(ctx)
	if err != nil {
		return 0, err
	}
	return max(before.Total()-after.Total(), 0), nil
}
