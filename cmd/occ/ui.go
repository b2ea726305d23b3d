package main

import (
	"io"

	"github.com/opencode-cloud/occ/internal/ui"
)

// UI is occ's terminal output (internal/ui): results to Out, messages to
// Err, with -q, -v and per-stream colour.
type UI = ui.UI

// NewUI builds a UI with colour on Out when outColor and on Err when
// errColor.
func NewUI(out, errOut io.Writer, quiet bool, verbose int, outColor, errColor bool) *UI {
	return ui.New(out, errOut, quiet, verbose, outColor, errColor)
}
