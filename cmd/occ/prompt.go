package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/term"
)

// errNeedsTTY builds the error for a prompt that cannot be shown.
func errNeedsTTY(question, flag string) error {
	return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("%q needs an answer, but occ is not running on a terminal (or -q was given); pass %s to proceed",
		question, flag))
}

// Confirm asks a yes/no question on the terminal. Without a terminal it
// returns an error naming the flag that answers it.
func (a *App) Confirm(question string, def bool, flag string) (bool, error) {
	if !a.Interactive {
		return false, errNeedsTTY(question, flag)
	}
	hint := "[y/N]"
	if def {
		hint = "[Y/n]"
	}
	fmt.Fprintf(a.UI.Err, "%s %s ", question, hint)
	line, err := bufio.NewReader(a.In).ReadString('\n')
	if err != nil && line == "" {
		return false, errdefs.ErrAborted.WithMessage(fmt.Sprintf("no answer to %q", question))
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "":
		return def, nil
	case "y", "yes":
		return true, nil
	default:
		return false, nil
	}
}

// maxSecretLine bounds a secret read from stdin, line ending included:
// far above any password (runtime.MaxPasswordBytes) or API key, and small
// enough that a stdin that never ends (/dev/zero) is refused at once.
const maxSecretLine = 64 << 10

// ReadSecret reads a secret. On a terminal it prompts without echo, twice
// when confirm is set; otherwise it reads one line from stdin, so scripts
// can pipe it in. Secrets are never taken from the command line.
func (a *App) ReadSecret(prompt string, confirm bool) (string, error) {
	f, isFile := a.In.(*os.File)
	if isFile && term.IsTerminal(int(f.Fd())) {
		read := func(p string) (string, error) {
			fmt.Fprint(a.UI.Err, p)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(a.UI.Err)
			return string(b), err
		}
		s, err := read(prompt + ": ")
		if err != nil {
			return "", fmt.Errorf("read %s: %w", strings.ToLower(prompt), err)
		}
		if confirm {
			again, err := read("Confirm " + strings.ToLower(prompt) + ": ")
			if err != nil {
				return "", fmt.Errorf("read %s: %w", strings.ToLower(prompt), err)
			}
			if again != s {
				return "", errdefs.ErrInvalidArgument.WithMessage("the two entries do not match; nothing was changed")
			}
		}
		return s, nil
	}
	// At most maxSecretLine bytes: a secret is one short line, and stdin
	// may be a file or device that never ends (/dev/zero).
	line, err := bufio.NewReader(io.LimitReader(a.In, maxSecretLine+1)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s from stdin: %w", strings.ToLower(prompt), err)
	}
	if len(line) > maxSecretLine {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the %s on stdin is longer than %d bytes: give a shorter one", strings.ToLower(prompt), maxSecretLine))
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("no %s given on stdin (pipe it in, or run on a terminal to be prompted)", strings.ToLower(prompt)))
	}
	return line, nil
}
