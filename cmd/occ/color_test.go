package main

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/creack/pty"
)

// TestPipedOutputHasNoEscapeCodes runs every command that prints, with
// stdout a pipe (a buffer) and stderr a real terminal (a pty): colour is
// decided per stream, so stdout carries no escape codes while stderr, the
// terminal, is coloured. Before, colour followed stderr and leaked into
// `occ config show | cat` and `occ doctor | head`.
func TestPipedOutputHasNoEscapeCodes(t *testing.T) {
	dead := filepath.Join(t.TempDir(), "dead.sock")
	commands := [][]string{
		{"config", "show"},
		{"config", "get", "image_source"},
		{"config", "env", "list"},
		{"config", "path"},
		{"user", "list"},
		{"doctor"},
		{"version"},
		{"status"},
		{"image", "ls"},
		{"image", "inspect"},
		{"--help"},
		{"config", "set", "--help"},
		{"completion", "bash"},
	}
	var errColoured bool
	for _, args := range commands {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			occEnv(t)
			t.Setenv("NO_COLOR", "")
			t.Setenv("FORCE_COLOR", "")
			t.Setenv("TERM", "xterm-256color")
			t.Setenv("CONTAINERD_ADDRESS", dead)
			t.Setenv("BUILDKIT_HOST", "unix://"+dead)
			t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
			out, errOut := runWithTerminalStderr(t, args...)
			if strings.Contains(out, "\x1b") {
				t.Errorf("occ %s: escape codes on piped stdout: %q", strings.Join(args, " "), out)
			}
			if strings.Contains(errOut, "\x1b[") {
				errColoured = true
			}
		})
	}
	// The test would pass vacuously if nothing were ever coloured: the
	// terminal (stderr) must have got colour somewhere (status's "Error:").
	if !errColoured {
		t.Error("no command coloured its terminal stderr: colour is not decided per stream")
	}
}

// runWithTerminalStderr runs occ with stdout a buffer and stderr a pty.
func runWithTerminalStderr(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty on this machine: %v", err)
	}
	defer ptmx.Close()
	var errb bytes.Buffer
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(&errb, ptmx) })
	var out bytes.Buffer
	run(args, strings.NewReader(""), &out, tty)
	tty.Close()
	wg.Wait()
	return out.String(), errb.String()
}

// FORCE_COLOR colours piped stdout (for CI logs that render colour).
func TestForceColor(t *testing.T) {
	occEnv(t)
	t.Setenv("NO_COLOR", "")
	t.Setenv("FORCE_COLOR", "1")
	if _, out, _ := occ(t, "", "config", "show"); !strings.Contains(out, "\x1b[") {
		t.Errorf("FORCE_COLOR=1: config show not coloured: %q", out)
	}
	if _, out, _ := occ(t, "", "--no-color", "config", "show"); strings.Contains(out, "\x1b") {
		t.Errorf("--no-color with FORCE_COLOR=1: coloured: %q", out)
	}
}
