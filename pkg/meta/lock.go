package meta

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/gofrs/flock"
)

// DefaultLockWait is how long a mutating command waits for another occ.
const DefaultLockWait = 5 * time.Second

// Lock is the exclusive lock every mutating occ command holds while it
// changes config, state, images or the container.
type Lock struct{ fl *flock.Flock }

// LockedError says another occ holds the lock.
type LockedError struct {
	Path string
	PID  int // 0 when unknown
}

func (e *LockedError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("another occ is running (pid %d); wait for it to finish, or stop it (lock: %s)", e.PID, e.Path)
	}
	return fmt.Sprintf("another occ is running; wait for it to finish (lock: %s)", e.Path)
}

func (e *LockedError) Unwrap() error { return errdefs.ErrUnavailable }

// AcquireLock takes the lock at path, waiting up to wait for another holder
// to let go. The holder's PID is written into the file so that a blocked
// occ can say who holds it. The lock is released by Unlock or when the
// process exits (it is an flock, so a killed occ never leaves it stuck).
func AcquireLock(ctx context.Context, path string, wait time.Duration) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create lock directory: %w", err)
	}
	fl := flock.New(path, flock.SetPermissions(0o600))
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ok, err := fl.TryLockContext(wctx, 100*time.Millisecond)
	if !ok {
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return nil, &LockedError{Path: path, PID: readPID(path)}
	}
	// Record our PID. The file is ours while we hold the lock.
	if f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
		f.Close()
	}
	return &Lock{fl: fl}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.fl == nil {
		return nil
	}
	return l.fl.Unlock()
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return n
}
