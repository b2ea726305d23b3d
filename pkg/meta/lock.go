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
type Lock struct {
	fl        *flock.Flock
	path      string
	mark      lockMark // the lock file as this holder left it (Suspend)
	suspended bool
}

// lockMark identifies the lock file's last write: every holder writes its
// PID into it on taking the lock.
type lockMark struct {
	mod     time.Time
	content string
}

// ErrLockTakenMeanwhile says another occ held the lock while this one had
// it suspended (for a prompt): what this command decided before may be
// out of date.
var ErrLockTakenMeanwhile = errdefs.ErrAborted.WithMessage("another occ ran while occ waited for your answer; nothing more was changed: run the command again")

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
	writePID(path)
	return &Lock{fl: fl, path: path}, nil
}

// writePID records our PID in the lock file; the file is ours while we
// hold the lock.
func writePID(path string) {
	if f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
		f.Close()
	}
}

func markOf(path string) lockMark {
	var m lockMark
	if st, err := os.Stat(path); err == nil {
		m.mod = st.ModTime()
	}
	if b, err := os.ReadFile(path); err == nil {
		m.content = string(b)
	}
	return m
}

// Suspend lets go of the lock while occ waits for a person (a prompt), so
// that other occ commands are not held up by an unanswered question.
// Resume takes it back.
func (l *Lock) Suspend() error {
	if l == nil || l.fl == nil || !l.fl.Locked() {
		return nil
	}
	l.mark = markOf(l.path)
	if err := l.fl.Unlock(); err != nil {
		return err
	}
	l.suspended = true
	return nil
}

// Resume takes a suspended lock back, waiting up to wait. It fails with
// ErrLockTakenMeanwhile when another occ held the lock in between (the
// lock file was rewritten), and with a *LockedError when one still does;
// the lock is then not held by this process.
func (l *Lock) Resume(ctx context.Context, wait time.Duration) error {
	if l == nil || l.fl == nil || !l.suspended {
		return nil
	}
	l.suspended = false
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ok, err := l.fl.TryLockContext(wctx, 100*time.Millisecond)
	if !ok {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("lock %s: %w", l.path, err)
		}
		return &LockedError{Path: l.path, PID: readPID(l.path)}
	}
	if markOf(l.path) != l.mark {
		l.fl.Unlock()
		return ErrLockTakenMeanwhile
	}
	return nil
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
