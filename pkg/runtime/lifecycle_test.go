package runtime

import (
	"context"
	"errors"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
)

func TestWaitExit(t *testing.T) {
	exitedC := func() <-chan containerd.ExitStatus {
		c := make(chan containerd.ExitStatus, 1)
		c <- containerd.ExitStatus{}
		return c
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name       string
		ctx        context.Context
		waitC      <-chan containerd.ExitStatus
		d          time.Duration
		wantExited bool
		wantErr    error
	}{
		{"exits", context.Background(), exitedC(), time.Minute, true, nil},
		{"times out", context.Background(), make(chan containerd.ExitStatus), 10 * time.Millisecond, false, nil},
		{"context ends", cancelled, make(chan containerd.ExitStatus), time.Minute, false, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			exited, err := waitExit(tt.ctx, tt.waitC, tt.d)
			if exited != tt.wantExited || !errors.Is(err, tt.wantErr) {
				t.Errorf("got %v, %v; want %v, %v", exited, err, tt.wantExited, tt.wantErr)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("took %s", el)
			}
		})
	}
}

// TestWaitExitOrForce: Enter at occ stop's prompt ends the graceful wait
// at once, unless the task has exited already.
func TestWaitExitOrForce(t *testing.T) {
	closed := func() <-chan struct{} { c := make(chan struct{}); close(c); return c }
	exitedC := func() <-chan containerd.ExitStatus {
		c := make(chan containerd.ExitStatus, 1)
		c <- containerd.ExitStatus{}
		return c
	}
	tests := []struct {
		name                   string
		waitC                  <-chan containerd.ExitStatus
		force                  <-chan struct{}
		d                      time.Duration
		wantExited, wantForced bool
	}{
		{"forced", make(chan containerd.ExitStatus), closed(), time.Minute, false, true},
		{"exit wins over force", exitedC(), closed(), time.Minute, true, false},
		{"nil force times out", make(chan containerd.ExitStatus), nil, 10 * time.Millisecond, false, false},
		{"open force, exits", exitedC(), make(chan struct{}), time.Minute, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			exited, forced, err := waitExitOrForce(context.Background(), tt.waitC, tt.d, tt.force)
			if err != nil || exited != tt.wantExited || forced != tt.wantForced {
				t.Errorf("got %v, %v, %v; want %v, %v", exited, forced, err, tt.wantExited, tt.wantForced)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("took %s", el)
			}
		})
	}
}

func TestSleepCtx(t *testing.T) {
	if err := sleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Errorf("sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled sleep: %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("cancelled sleep took %s", el)
	}
}

func TestClearedNetworkLabels(t *testing.T) {
	l := clearedNetworkLabels()
	if len(l) != 5 {
		t.Errorf("%d labels: %v", len(l), l)
	}
	for k, v := range l {
		if v != "" {
			t.Errorf("%s=%q, want empty", k, v)
		}
	}
	l["x"] = "y" // a fresh map each time
	if _, ok := clearedNetworkLabels()["x"]; ok {
		t.Error("clearedNetworkLabels shares its map")
	}
}

func TestRetryNewTask(t *testing.T) {
	defer func(n int, d time.Duration) { shimRetries, shimRetryDelay = n, d }(shimRetries, shimRetryDelay)
	shimRetries, shimRetryDelay = 5, time.Millisecond
	exists := errdefs.ErrAlreadyExists.WithMessage("task exists")
	other := errors.New("runc failed")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		results   []error // create's outcome per call; past the end: exists
		wantErr   error
		wantCalls int
	}{
		{"created on the third try", context.Background(), []error{exists, exists, nil}, nil, 3},
		{"another error ends it", context.Background(), []error{exists, other}, other, 2},
		{"bounded", context.Background(), nil, errdefs.ErrAlreadyExists, 5},
		{"context ended", cancelled, nil, context.Canceled, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			_, err := retryNewTask(tt.ctx, func() (containerd.Task, error) {
				calls++
				if calls <= len(tt.results) {
					return nil, tt.results[calls-1]
				}
				return nil, exists
			})
			if calls != tt.wantCalls || (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("%d calls, err %v; want %d calls, err %v", calls, err, tt.wantCalls, tt.wantErr)
			}
		})
	}
}
