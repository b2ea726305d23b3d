package ops

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// TestOpenPreamble: every operation runs the one preamble with its own
// parts: the lock only for changes (and let go again whatever happens),
// the users gate before containerd is dialled, an unreachable containerd
// as runtime.UnreachableError (exit 4 in the CLI).
func TestOpenPreamble(t *testing.T) {
	withUser := meta.DefaultConfig()
	withUser.Users = []string{"alice"}
	badPort := meta.DefaultConfig()
	badPort.Users = []string{"alice"}
	badPort.OpencodeWebPort = 80
	for _, tc := range []struct {
		name        string
		cfg         *meta.Config
		run         func(context.Context, *Env) error
		locks       int
		unreachable bool
		is          func(error) bool
	}{
		{"status", withUser, func(ctx context.Context, e *Env) error { _, err := e.Status(ctx, StatusOptions{}); return err }, 0, true, nil},
		{"logs", withUser, func(ctx context.Context, e *Env) error { return e.Logs(ctx, LogsOptions{}) }, 0, true, nil},
		{"stop", withUser, func(ctx context.Context, e *Env) error { _, err := e.Stop(ctx, StopOptions{}); return err }, 1, true, nil},
		{"update", withUser, func(ctx context.Context, e *Env) error { _, err := e.Update(ctx, UpdateOptions{}); return err }, 1, true, nil},
		{"start", withUser, func(ctx context.Context, e *Env) error { _, err := e.Start(ctx, StartOptions{}); return err }, 1, true, nil},
		{"restart without users", nil, func(ctx context.Context, e *Env) error { _, err := e.Restart(ctx, RestartOptions{}); return err }, 1, false,
			func(err error) bool { return errors.Is(err, ErrNoUsers) }},
		{"start with a bad config", badPort, func(ctx context.Context, e *Env) error { _, err := e.Start(ctx, StartOptions{}); return err }, 1, false,
			func(err error) bool { var ve *meta.ValidationError; return errors.As(err, &ve) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t, tc.cfg)
			ctx := context.Background()
			err := tc.run(ctx, te.Env)
			var ue *runtime.UnreachableError
			if got := errors.As(err, &ue); got != tc.unreachable {
				t.Errorf("error %v: unreachable %v, want %v", err, got, tc.unreachable)
			}
			if tc.is != nil && !tc.is(err) {
				t.Errorf("error %v is not the expected one", err)
			}
			if te.locks != tc.locks {
				t.Errorf("lock taken %d times, want %d", te.locks, tc.locks)
			}
			if l, err := meta.AcquireLock(ctx, te.Paths.LockFile(), 100*time.Millisecond); err != nil {
				t.Errorf("the lock was not let go: %v", err)
			} else {
				l.Unlock()
			}
		})
	}
}

func TestImageActionOf(t *testing.T) {
	for _, tc := range []struct {
		pull, cached, full bool
		want               ImageAction
		wantErr            bool
	}{
		{want: ImageKeep},
		{pull: true, want: ImagePull},
		{cached: true, want: ImageBuildCached},
		{full: true, want: ImageBuildFull},
		{pull: true, full: true, wantErr: true},
		{pull: true, cached: true, full: true, wantErr: true},
	} {
		got, err := ImageActionOf(tc.pull, tc.cached, tc.full)
		if (err != nil) != tc.wantErr || (err == nil && got != tc.want) {
			t.Errorf("%+v: %v %v", tc, got, err)
		}
		if err != nil && (!errdefs.IsInvalidArgument(err) || err.Error() != ErrImageFlags) {
			t.Errorf("%+v: error %q", tc, err)
		}
	}
}
