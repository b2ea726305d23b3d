package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/opencode-cloud/occ/internal/ui"
)

// noFirstRunWizard are the commands that never start the set-up wizard on
// their own: setup itself, those about the config file or occ, the remote
// hosts (hosts.json, not the sandbox's config) and the internal ones.
var noFirstRunWizard = map[string]bool{
	"setup": true, "config": true, "version": true, "completion": true, "doctor": true, "man": true,
	"login": true, "logout": true, "uninstall": true, "host": true, "log-driver": true, "stop-all": true,
}

// needsFirstRun is whether the command path (kong's "user list <name>")
// starts the wizard when occ has no config file: upstream's first run.
func needsFirstRun(command string) bool {
	first, _, _ := strings.Cut(command, " ")
	return first != "" && !noFirstRunWizard[first]
}

// firstRun runs the set-up wizard before command when no config file
// exists and occ talks to a person (stdin, stdout and stderr terminals,
// no -q). Then the command runs, as asked: upstream stops after the
// wizard ("Run your command again"), which makes the user type it twice.
// ran says the wizard ran; its error (cancelled: exit 130) ends occ.
func firstRun(ctx context.Context, app *App, command string, stdout io.Writer) (ran bool, err error) {
	if !app.Interactive || !ui.IsTerminal(stdout) || !needsFirstRun(command) {
		return false, nil
	}
	if _, err := os.Stat(app.Paths.ConfigFile); !errors.Is(err, fs.ErrNotExist) {
		return false, nil // there is one (or it cannot be read: the command says so)
	}
	name, _, _ := strings.Cut(command, " ")
	app.UI.Infof("occ has no configuration yet (%s): the set-up wizard comes first, then occ %s.\n", app.Paths.ConfigFile, displayCommand(command))
	// The commands that start the service (or offer to) do it themselves.
	s := &SetupCmd{then: displayCommand(command), NoStart: name == "start" || name == "restart" || name == "bare"}
	if err := s.Run(ctx, app); err != nil {
		return true, err
	}
	app.UI.Infof("Setup complete! Continuing with: occ %s\n", displayCommand(command))
	return true, nil
}

// displayCommand is kong's command path without its <arg> placeholders.
func displayCommand(command string) string {
	var words []string
	for _, w := range strings.Fields(command) {
		if !strings.HasPrefix(w, "<") && !strings.HasPrefix(w, "[") {
			words = append(words, w)
		}
	}
	if len(words) == 1 && words[0] == "bare" {
		return "(no command: status)"
	}
	return strings.Join(words, " ")
}
