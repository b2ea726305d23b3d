package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// promptApp is an App that prompts on a pipe, holding occ's lock.
func promptApp(t *testing.T, ctx context.Context) (*App, *io.PipeWriter) {
	t.Helper()
	occEnv(t)
	paths, err := meta.DefaultPaths()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	app := &App{Paths: paths, UI: NewUI(&bytes.Buffer{}, &bytes.Buffer{}, false, 0, false, false), In: pr, Interactive: true, Ctx: ctx}
	l, err := app.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Unlock() })
	return app, pw
}

type answer struct {
	ok  bool
	err error
}

// TestPromptLetsGoOfLock: a question left unanswered used to hold occ's
// lock, so every other occ (a service's supervisor included) failed after
// 5 s. The lock is let go while occ waits and taken back after; when
// another occ held it meanwhile, the command stops with nothing more
// changed.
func TestPromptLetsGoOfLock(t *testing.T) {
	for _, other := range []bool{false, true} {
		app, pw := promptApp(t, context.Background())
		done := make(chan answer, 1)
		go func() {
			ok, err := app.Confirm("Go on?", false, "--yes")
			done <- answer{ok, err}
		}()
		time.Sleep(100 * time.Millisecond)
		if other {
			l, err := meta.AcquireLock(context.Background(), app.Paths.LockFile(), 2*time.Second)
			if err != nil {
				t.Fatalf("another occ could not take the lock while occ waited at a prompt: %v", err)
			}
			l.Unlock()
		}
		if _, err := pw.Write([]byte("y\n")); err != nil {
			t.Fatal(err)
		}
		a := <-done
		if other {
			if !errors.Is(a.err, meta.ErrLockTakenMeanwhile) || !errdefs.IsAborted(a.err) {
				t.Errorf("answer after another occ ran: %+v, want ErrLockTakenMeanwhile", a)
			}
			continue
		}
		if a.err != nil || !a.ok {
			t.Fatalf("answer %+v", a)
		}
		// The lock is ours again.
		if _, err := meta.AcquireLock(context.Background(), app.Paths.LockFile(), 200*time.Millisecond); err == nil {
			t.Error("the lock was not taken back after the prompt")
		}
	}
}

// TestPromptInterrupt: Ctrl-C at a prompt (signal.NotifyContext catches
// SIGINT, so the read went on blocking) now ends occ at once with exit
// status 130, for a question and for a secret read from stdin.
func TestPromptInterrupt(t *testing.T) {
	for _, kind := range []string{"confirm", "secret", "choose"} {
		ctx, cancel := context.WithCancel(context.Background())
		app, _ := promptApp(t, ctx)
		done := make(chan error, 1)
		go func() {
			var err error
			switch kind {
			case "secret":
				_, err = app.ReadSecret("Value for KEY", false)
			case "choose":
				_, err = app.Choose("Which?", []string{"one", "two"}, 1)
			default:
				_, err = app.Confirm("Go on?", false, "--yes")
			}
			done <- err
		}()
		time.Sleep(100 * time.Millisecond)
		// Meanwhile the lock is free for others.
		if l, err := meta.AcquireLock(context.Background(), app.Paths.LockFile(), time.Second); err != nil {
			t.Errorf("%s: the lock is held while prompting: %v", kind, err)
		} else {
			l.Unlock()
		}
		cancel()
		select {
		case err := <-done:
			if exitCode(err) != 130 {
				t.Errorf("%s: %v gives exit status %d, want 130", kind, err, exitCode(err))
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("%s: the prompt ignored the interrupt", kind)
		}
	}
}
