package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/term"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// errNeedsTTY builds the error for a prompt that cannot be shown.
func errNeedsTTY(question, flag string) error {
	return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("%q needs an answer, but occ is not running on a terminal (or -q was given); pass %s to proceed",
		question, flag))
}

// Confirm asks a yes/no question on the terminal. Without a terminal it
// returns an error naming the flag that answers it. While it waits, occ's
// lock is let go (withLockSuspended) and Ctrl-C ends occ (exit 130) with
// nothing changed.
func (a *App) Confirm(question string, def bool, flag string) (bool, error) {
	if !a.Interactive {
		return false, errNeedsTTY(question, flag)
	}
	hint := "[y/N]"
	if def {
		hint = "[Y/n]"
	}
	var answer bool
	err := a.withLockSuspended(func() error {
		fmt.Fprintf(a.UI.Err, "%s %s ", question, hint)
		line, err := a.interruptible(func() (string, error) { return bufio.NewReader(a.In).ReadString('\n') }, nil)
		if err != nil && line == "" {
			if isInterrupt(err) {
				return err
			}
			return errdefs.ErrAborted.WithMessage(fmt.Sprintf("no answer to %q", question))
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "":
			answer = def
		case "y", "yes":
			answer = true
		}
		return nil
	})
	return answer, err
}

// maxSecretLine bounds a secret read from stdin, line ending included:
// far above any password (runtime.MaxPasswordBytes) or API key, and small
// enough that a stdin that never ends (/dev/zero) is refused at once.
const maxSecretLine = 64 << 10

// ReadSecret reads a secret. On a terminal it prompts without echo, twice
// when confirm is set; otherwise it reads one line from stdin, so scripts
// can pipe it in. Secrets are never taken from the command line. Like
// Confirm, it lets go of occ's lock while it waits, and Ctrl-C ends occ.
func (a *App) ReadSecret(prompt string, confirm bool) (secret string, err error) {
	err = a.withLockSuspended(func() error {
		secret, err = a.readSecret(prompt, confirm)
		return err
	})
	return secret, err
}

func (a *App) readSecret(prompt string, confirm bool) (string, error) {
	f, isFile := a.In.(*os.File)
	if isFile && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		read := func(p string) (string, error) {
			fmt.Fprint(a.UI.Err, p)
			state, _ := term.GetState(fd)
			s, err := a.interruptible(func() (string, error) {
				b, err := term.ReadPassword(fd)
				return string(b), err
			}, func() {
				if state != nil {
					_ = term.Restore(fd, state) // echo back on
				}
			})
			fmt.Fprintln(a.UI.Err)
			return s, err
		}
		s, err := read(prompt + ": ")
		if err != nil {
			if isInterrupt(err) {
				return "", err
			}
			return "", fmt.Errorf("read %s: %w", lowerFirst(prompt), err)
		}
		if confirm {
			again, err := read("Confirm " + lowerFirst(prompt) + ": ")
			if err != nil {
				if isInterrupt(err) {
					return "", err
				}
				return "", fmt.Errorf("read %s: %w", lowerFirst(prompt), err)
			}
			if again != s {
				return "", errdefs.ErrInvalidArgument.WithMessage("the two entries do not match; nothing was changed")
			}
		}
		return s, nil
	}
	// At most maxSecretLine bytes: a secret is one short line, and stdin
	// may be a file or device that never ends (/dev/zero).
	line, err := a.interruptible(func() (string, error) {
		return bufio.NewReader(io.LimitReader(a.In, maxSecretLine+1)).ReadString('\n')
	}, nil)
	if isInterrupt(err) {
		return "", err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s from stdin: %w", lowerFirst(prompt), err)
	}
	if len(line) > maxSecretLine {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the %s on stdin is longer than %d bytes: give a shorter one", strings.ToLower(prompt), maxSecretLine))
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("no %s given on stdin (pipe it in, or run on a terminal to be prompted)", lowerFirst(prompt)))
	}
	return line, nil
}

// errInterrupted is a prompt ended by Ctrl-C (or SIGTERM); exitCode maps
// it to 130.
func errInterrupted(cause error) error {
	return fmt.Errorf("interrupted at the prompt; nothing was changed: %w", cause)
}

func isInterrupt(err error) bool { return err != nil && errors.Is(err, context.Canceled) }

// interruptible runs a blocking read and returns its result, or returns
// as soon as occ is interrupted (a signal.NotifyContext catches SIGINT, so
// without this Ctrl-C at a prompt did nothing). restore undoes what the
// read did to the terminal. The abandoned read ends with the process.
func (a *App) interruptible(read func() (string, error), restore func()) (string, error) {
	ctx := a.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := read()
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		if restore != nil {
			restore()
		}
		fmt.Fprintln(a.UI.Err)
		return "", errInterrupted(context.Canceled)
	}
}

// withLockSuspended runs prompt with occ's lock let go, when this command
// holds it: a question left unanswered must not hold up every other occ
// (a service's supervisor included). The lock is taken back afterwards;
// when another occ held it in between, the command stops (what it decided
// before the prompt may be out of date) with nothing more changed.
func (a *App) withLockSuspended(prompt func() error) error {
	l := a.held
	if l == nil {
		return prompt()
	}
	if err := l.Suspend(); err != nil {
		return fmt.Errorf("letting go of occ's lock for the prompt: %w", err)
	}
	perr := prompt()
	if isInterrupt(perr) {
		a.held = nil // occ ends here: nothing more to lock
		return perr
	}
	ctx := a.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if err := l.Resume(ctx, meta.DefaultLockWait); err != nil {
		a.held = nil
		if perr != nil {
			return perr
		}
		return err
	}
	return perr
}

// lowerFirst puts a prompt ("Password", "Value for API_KEY") into a
// sentence, leaving the rest (a variable's name) as it is.
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
