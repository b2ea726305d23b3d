package registry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// writerErr is a content store whose Writer always fails with err.
type writerErr struct {
	content.Store
	err   error
	calls int
}

func (w *writerErr) Writer(context.Context, ...content.WriterOpt) (content.Writer, error) {
	w.calls++
	return nil, w.err
}

// TestFailFastContent: a containerd that stopped answering ends
// content.OpenWriter at once; a locked ref is still waited out (until the
// context ends), as containerd means it.
func TestFailFastContent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		fastFail bool
	}{
		{"connection refused", errgrpc.ToNative(status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial unix /run/containerd/containerd.sock: connect: connection refused"`)), true},
		{"EOF from a killed daemon", errgrpc.ToNative(status.Error(codes.Unavailable, "error reading from server: EOF")), true},
		{"locked ref", errgrpc.ToNative(status.Error(codes.Unavailable, "ref default/1/layer-sha256:abc locked for 1.2s (since 2026-12-03 13:00:00): unavailable")), false},
		{"not found passes through", errdefs.ErrNotFound, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &writerErr{err: tc.err}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			t0 := time.Now()
			_, err := content.OpenWriter(ctx, failFastContent{inner}, content.WithRef("x"))
			took := time.Since(t0)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.fastFail && (took > 100*time.Millisecond || inner.calls != 1) {
				t.Errorf("took %s and %d calls, want one call and no wait", took, inner.calls)
			}
			if !tc.fastFail && inner.calls < 2 {
				t.Errorf("a locked ref was not waited out: %d calls in %s", inner.calls, took)
			}
			var gone *ErrDaemonUnreachable
			if want := errdefs.IsUnavailable(tc.err) && tc.fastFail; errors.As(err, &gone) != want {
				t.Errorf("error %v: ErrDaemonUnreachable %v, want %v", err, !want, want)
			}
		})
	}
}
