package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// The image records (current and previous, with their provenance labels)
// are the truth about the sandbox image; the image-state file is a copy
// for people and for upstream's tools. Every change writes the records
// first and the file right after, so an occ killed in between leaves the
// file one change behind. RepairImageState puts it right at the next
// command.

// RepairImageState rewrites the image-state file at stateFile from the
// instance's current and previous image records (names) when the two disagree, and reports
// whether it did. A record without provenance labels keeps the file's
// entry for its digest (StateFor); with no current record, or one whose
// provenance is unknown, the file is left as it is. The caller holds
// occ's lock.
func (c *Client) RepairImageState(ctx context.Context, names meta.ImageNames, stateFile string) (bool, error) {
	if stateFile == "" {
		return false, nil
	}
	ctx = c.WithNamespace(ctx)
	var recs [2]*images.Image
	for i, name := range []string{names.Current, names.Previous} {
		img, err := c.ImageService().Get(ctx, name)
		switch {
		case errdefs.IsNotFound(err):
		case err != nil:
			return false, fmt.Errorf("read image record %s: %w", name, err)
		default:
			recs[i] = &img
		}
	}
	old, err := meta.LoadState(stateFile)
	if err != nil {
		old = nil // unreadable: written anew from the records
	}
	want, ok := RepairedState(recs[0], recs[1], old)
	if !ok {
		return false, nil
	}
	if err := meta.SaveState(stateFile, want); err != nil {
		return false, fmt.Errorf("repair the image state from the image records: %w", err)
	}
	return true, nil
}

// RepairedState is the image state that the records cur and prev call
// for, and whether old (the file as read; nil when missing or unreadable)
// differs from it. ok is false when there is nothing to write: no current
// record, or one whose provenance is unknown.
func RepairedState(cur, prev *images.Image, old *meta.ImageState) (*meta.ImageState, bool) {
	want := StateFor(cur, prev, old)
	if want == nil {
		return nil, false
	}
	want.Version = meta.StateVersion
	if old == nil {
		return want, true
	}
	o := *old
	o.Version = meta.StateVersion
	a, errA := json.Marshal(want)
	b, errB := json.Marshal(&o)
	if errA != nil || errB != nil {
		return want, true
	}
	return want, !bytes.Equal(a, b)
}
