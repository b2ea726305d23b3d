package main

import (
	"context"
	"fmt"

	"github.com/opencode-cloud/occ/internal/ui"
	"github.com/opencode-cloud/occ/pkg/meta"
)

// prompter is the terminal's Prompter for this invocation: while a
// question waits, occ's lock is let go (withLockSuspended), and Ctrl-C
// ends occ (exit 130) with nothing changed.
func (a *App) prompter() *ui.Prompter {
	return &ui.Prompter{In: a.In, Err: a.UI.Err, Interactive: a.Interactive, Ctx: a.Ctx, Around: a.withLockSuspended}
}

// Confirm asks a yes/no question on the terminal. Without a terminal it
// returns an error naming the flag that answers it.
func (a *App) Confirm(question string, def bool, flag string) (bool, error) {
	return a.prompter().Confirm(question, def, flag)
}

// Choose asks the user to pick one of options (numbered from 1).
func (a *App) Choose(question string, options []string, def int) (int, error) {
	return a.prompter().Choose(question, options, def)
}

// ReadSecret reads a secret: without echo on a terminal (twice when
// confirm is set), else one line from stdin.
func (a *App) ReadSecret(prompt string, confirm bool) (string, error) {
	return a.prompter().ReadSecret(prompt, confirm)
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
	if ui.IsInterrupt(perr) {
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
