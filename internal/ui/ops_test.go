package ui

import "github.com/opencode-cloud/occ/pkg/ops"

// The terminal is what pkg/ops asks for.
var (
	_ ops.Reporter = (*UI)(nil)
	_ ops.Progress = (*UI)(nil)
	_ ops.Prompter = (*Prompter)(nil)
)
