package runtime

import (
	"context"
	"fmt"
	"strconv"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// RemoveDeadLeases deletes the leases in the client's namespace that an
// occ killed in the middle of a pull, build or image change left behind:
// those whose meta.LabelOwner names a process that is gone. Until then
// such a lease keeps what the killed command wrote (blobs, snapshots) out
// of containerd's garbage collection for up to a day. Leases of live
// processes, of other tools and of older occ versions (no owner label)
// are left alone. It returns how many it deleted.
func (c *Client) RemoveDeadLeases(ctx context.Context) (int, error) {
	ctx = c.WithNamespace(ctx)
	lm := c.LeasesService()
	ls, err := lm.List(ctx, "labels."+strconv.Quote(meta.LabelOwner))
	if err != nil {
		return 0, fmt.Errorf("list containerd leases: %w", err)
	}
	n := 0
	var errs []error
	for _, l := range ls {
		if meta.OwnerAlive(l.Labels[meta.LabelOwner]) {
			continue
		}
		if err := lm.Delete(ctx, l); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete lease %s: %w", l.ID, err))
			continue
		}
		n++
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("remove leases left by killed occ commands: %v", errs)
	}
	return n, nil
}
