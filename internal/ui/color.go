package ui

import (
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// ColorFor decides colour for one stream: off with --no-color or
// $NO_COLOR (any value, no-color.org), on with $FORCE_COLOR (any value but
// empty, "0" or "false"), otherwise on only when the stream is a terminal and
// $TERM is not "dumb".
func ColorFor(w io.Writer, noColor bool) bool {
	if noColor || os.Getenv("NO_COLOR") != "" {
		return false
	}
	if v := os.Getenv("FORCE_COLOR"); v != "" && v != "0" && !strings.EqualFold(v, "false") {
		return true
	}
	return IsTerminal(w) && os.Getenv("TERM") != "dumb"
}

// IsTerminal is whether v (a reader or writer) is a terminal.
func IsTerminal(v any) bool {
	f, ok := v.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}
