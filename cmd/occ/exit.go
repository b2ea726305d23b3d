package main

import (
	"fmt"

	"github.com/containerd/errdefs"
)

// exitStatus is an error that only sets occ's exit code: nothing is printed
// (e.g. `occ status -q` when the service is not running).
type silentExit struct{ code int }

func (e silentExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// errInvalidFlag is a bad flag value, classified as invalid argument.
func errInvalidFlag(msg string) error { return errdefs.ErrInvalidArgument.WithMessage(msg) }
