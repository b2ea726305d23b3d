package registry

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/errdefs"
)

// failFastContent is the content store a pull writes through.
// containerd's content.OpenWriter (and WriteBlob, which uses it) retries
// ErrUnavailable until its context ends, because containerd answers
// "ref … locked" with it while another writer holds the ingest. gRPC maps
// a connection to a containerd that has died to Unavailable too, so a pull
// whose containerd was killed or restarted waited for ever (found by
// TestDaemonKilledMidOperation: still waiting a minute after the kill).
// Writer passes a locked ref on as it is and turns every other
// Unavailable into an error OpenWriter does not retry, saying what
// happened.
type failFastContent struct {
	content.Store
}

// ErrDaemonUnreachable is a containerd that stopped answering in the
// middle of a pull.
type ErrDaemonUnreachable struct{ Err error }

func (e *ErrDaemonUnreachable) Error() string {
	return fmt.Sprintf("containerd stopped answering (%v); is it running? Nothing was recorded: run the command again once it is", e.Err)
}

// Unwrap keeps the cause's text but not its class: an Unavailable here
// would send content.OpenWriter back into its loop.
func (e *ErrDaemonUnreachable) Unwrap() error { return errdefs.ErrFailedPrecondition }

func (s failFastContent) Writer(ctx context.Context, opts ...content.WriterOpt) (content.Writer, error) {
	w, err := s.Store.Writer(ctx, opts...)
	if err != nil && errdefs.IsUnavailable(err) && !lockedRef(err) {
		return nil, &ErrDaemonUnreachable{Err: err}
	}
	return w, err
}

// lockedRef: containerd's "ref %s locked for %s (since %s)" (another
// writer holds the ingest), the one Unavailable worth waiting out.
func lockedRef(err error) bool {
	return strings.Contains(err.Error(), " locked")
}
