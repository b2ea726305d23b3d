package ops

import (
	"context"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

// tidyAfterKilled puts right what an occ killed in the middle of a
// command left in containerd, for a command holding occ's lock (so no
// other occ is in the middle of anything): the image-state file is
// rewritten from the image records when the two disagree (the records are
// the truth; the kill fell between the two writes), and the leases of
// occ processes that are gone are deleted, so that what they held goes to
// containerd's garbage collection now rather than in a day. A failure is
// reported with -v and stops nothing (status and the image commands read
// the records).
func (e *Env) tidyAfterKilled(ctx context.Context, rt *runtime.Client) {
	repaired, err := rt.RepairImageState(ctx, e.Paths.Images(), e.Paths.StateFile())
	switch {
	case err != nil:
		e.Report.Verbosef("%v", err)
	case repaired:
		e.Report.Verbosef("The image state %s disagreed with the image records (an occ was stopped between the two writes); rewritten from the records", e.Paths.StateFile())
	}
	n, err := rt.RemoveDeadLeases(ctx)
	if err != nil {
		e.Report.Verbosef("%v", err)
	}
	if n > 0 {
		e.Report.Verbosef("Deleted %d containerd lease(s) left by occ commands that were killed", n)
	}
}
