//go:build integration

package integration

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// TestCommandsPipedNoEscapeCodes runs the commands that print, against a
// running sandbox, with stdout a pipe and stderr a terminal (a pty), colour
// not disabled: stdout must carry no escape codes (colour is decided per
// stream), while the terminal gets colour. `logs` without -f returns
// because its stdout is not a terminal. cmd/occ's
// TestPipedOutputHasNoEscapeCodes covers the same without a daemon.
func TestCommandsPipedNoEscapeCodes(t *testing.T) {
	f := newCmdFixture(t, nil)
	f.importImage(meta.Provenance{Source: meta.SourcePrebuilt, Registry: rtTestbed(t).registry,
		Repository: rtTestbed(t).registry + "/test/runtime-app", ImageVersion: meta.Version, AcquiredAt: time.Now()})
	f.startSandbox()
	var errColoured bool
	for _, args := range [][]string{
		{"status"}, {"logs", "-n", "20"}, {"image", "ls"}, {"image", "inspect"},
		{"config", "show"}, {"doctor"}, {"version"},
		{"image", "inspect", "no-such-image"}, // fails: "Error:" on the terminal, in colour
	} {
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Skipf("no pty: %v", err)
		}
		var errb bytes.Buffer
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = io.Copy(&errb, ptmx) })
		cmd := f.command(args...)
		cmd.Env = append(cmd.Env, "NO_COLOR=", "FORCE_COLOR=", "TERM=xterm-256color")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, tty
		runErr := make(chan error, 1)
		go func() { runErr <- cmd.Run() }()
		select {
		case err = <-runErr:
		case <-time.After(2 * time.Minute):
			t.Fatalf("occ %v did not return with stdout a pipe", args)
		}
		tty.Close()
		wg.Wait()
		ptmx.Close()
		failing := strings.Contains(strings.Join(args, " "), "no-such")
		if (err != nil) != failing && args[0] != "doctor" {
			t.Errorf("occ %v: %v\n%s", args, err, errb.String())
		}
		if out.Len() == 0 && !failing {
			t.Errorf("occ %v printed nothing on stdout", args)
		}
		if bytes.Contains(out.Bytes(), []byte("\x1b")) {
			t.Errorf("occ %v: escape codes on piped stdout:\n%q", args, out.String())
		}
		if bytes.Contains(errb.Bytes(), []byte("\x1b[")) {
			errColoured = true
		}
	}
	if !errColoured {
		t.Error("no command coloured its terminal stderr")
	}
}
