package main

import (
	"io"

	"github.com/containerd/log"
)

// quietLibraryLogs keeps the containerd client's own log lines (logrus,
// e.g. `level=error msg="failed to cleanup \"extract-…\""` after a failed
// unpack) off the user's terminal: occ reports what failed itself. With
// -vv they are shown, from warnings up.
func quietLibraryLogs(w io.Writer, verbose int) {
	if verbose >= 2 {
		log.L.Logger.SetOutput(w)
		_ = log.SetLevel("warn")
		return
	}
	log.L.Logger.SetOutput(io.Discard)
}
