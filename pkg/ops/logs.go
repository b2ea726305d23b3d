package ops

import (
	"context"
	"io"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

// LogsOptions are `occ logs`'s.
type LogsOptions struct {
	// Tail is how many lines from the end (0: all).
	Tail int
	// Follow keeps printing new lines until the container stops or ctx
	// ends.
	Follow bool
	// Timestamps prefixes each line with when it was written.
	Timestamps bool
	// Out gets the lines.
	Out io.Writer
}

// Logs writes the sandbox container's output to o.Out.
func (e *Env) Logs(ctx context.Context, o LogsOptions) error {
	s, err := e.Open(ctx, OpenOptions{})
	if err != nil {
		return err
	}
	defer s.Close()
	if s.State.State == runtime.StateMissing {
		return errdefs.ErrNotFound.WithMessage("No container found. Run 'occ start' first.")
	}
	if o.Follow {
		e.Report.Infof("Following logs (Ctrl+C to exit)...")
	}
	return s.Sandbox.Logs(ctx, runtime.LogOptions{Tail: o.Tail, Follow: o.Follow, Timestamps: o.Timestamps}, o.Out)
}
