package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// occ's exit codes. They are part of its interface (scripts test them):
// exitCodesHelp documents them in `occ --help`, the README repeats them,
// and TestExitCodes pins them.
const (
	exitOK          = 0   // success
	exitFailure     = 1   // the command failed
	exitUsage       = 2   // bad command line: unknown command or flag, bad flag value
	exitNotRunning  = 3   // `occ status -q`: the service is not running
	exitUnreachable = 4   // containerd or BuildKit cannot be reached
	exitInterrupted = 130 // SIGINT/SIGTERM (128 + SIGINT, as shells report it)
)

// exitCodesHelp ends `occ --help`.
const exitCodesHelp = `
Exit codes:
  0    success
  1    failure
  2    usage error (unknown command or flag, bad flag value)
  3    not running (occ status -q)
  4    cannot reach containerd or BuildKit
  130  interrupted (Ctrl+C, SIGTERM)
`

// silentExit is an error that only sets occ's exit code: nothing is printed
// (e.g. `occ status -q` when the service is not running).
type silentExit struct{ code int }

func (e silentExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError is a bad command line found after parsing (a flag value out of
// range, flags that do not go together): exit code 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// errInvalidFlag is a bad flag value: a usage error (exit 2), classified as
// invalid argument.
func errInvalidFlag(msg string) error {
	return usageError{errdefs.ErrInvalidArgument.WithMessage(msg)}
}

// exitCode maps a command's error to occ's exit code.
func exitCode(err error) int {
	var (
		se  silentExit
		ue  usageError
		rue *runtime.UnreachableError
		bue *build.UnreachableError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &se):
		return se.code
	case errors.Is(err, context.Canceled) || errdefs.IsCanceled(err):
		return exitInterrupted
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &rue) || errors.As(err, &bue):
		return exitUnreachable
	}
	return exitFailure
}
