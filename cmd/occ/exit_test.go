package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// TestExitCodes pins occ's exit codes through the real command line:
// they are an interface scripts rely on (README "Exit codes").
func TestExitCodes(t *testing.T) {
	dead := filepath.Join(t.TempDir(), "containerd.sock") // no socket there
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantErr   string // substring of stderr
		wantNoOut bool   // nothing on stdout
	}{
		{name: "ok", args: []string{"config", "get", "image_source"}, wantCode: exitOK},
		{name: "help", args: []string{"--help"}, wantCode: exitOK},
		{name: "failure", args: []string{"config", "set", "image_source", "nonsense"}, wantCode: exitFailure, wantErr: "must be prebuilt or build", wantNoOut: true},
		{name: "unknown command", args: []string{"bogus"}, wantCode: exitUsage, wantErr: "unexpected argument bogus", wantNoOut: true},
		{name: "unknown flag", args: []string{"status", "--bogus"}, wantCode: exitUsage, wantErr: "unknown flag --bogus", wantNoOut: true},
		{name: "missing argument", args: []string{"config", "set"}, wantCode: exitUsage, wantErr: "Usage: occ config set", wantNoOut: true},
		{name: "bad flag value", args: []string{"logs", "-n", "lots"}, wantCode: exitUsage, wantErr: "-n/--lines", wantNoOut: true},
		{name: "bad flag value after parsing", args: []string{"stop", "--timeout=-1"}, wantCode: exitUsage, wantErr: "-t/--timeout", wantNoOut: true},
		{name: "status -q, containerd unreachable", args: []string{"-q", "status"}, wantCode: exitUnreachable, wantErr: "containerd is not running", wantNoOut: true},
		{name: "status, containerd unreachable", args: []string{"status"}, wantCode: exitUnreachable, wantErr: "containerd is not running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			occEnv(t)
			t.Setenv("CONTAINERD_ADDRESS", dead)
			code, out, errOut := occ(t, "", tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr %q lacks %q", errOut, tt.wantErr)
			}
			if tt.wantNoOut && out != "" {
				t.Errorf("stdout should be empty, got %q", out)
			}
		})
	}
}

// TestExitCodeOf pins the mapping of errors to codes, including those a
// unit test cannot provoke through the command line.
func TestExitCodeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain", errors.New("boom"), 1},
		{"not found", errdefs.ErrNotFound.WithMessage("no container"), 1},
		{"silent", silentExit{code: exitNotRunning}, 3},
		{"silent wrapped", fmt.Errorf("status: %w", silentExit{code: 3}), 3},
		{"usage", errInvalidFlag("--port: bad"), 2},
		{"containerd unreachable", fmt.Errorf("open: %w", &runtime.UnreachableError{Address: "/x", Err: errdefs.ErrUnavailable}), 4},
		{"buildkit unreachable", fmt.Errorf("build: %w", &build.UnreachableError{}), 4},
		{"other unavailable", errdefs.ErrUnavailable.WithMessage("registry 503"), 1},
		{"interrupted", fmt.Errorf("pull: %w", context.Canceled), 130},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("%s: exitCode(%v) = %d, want %d", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestHelpListsExitCodes: `occ --help` documents the codes, on stdout.
func TestHelpListsExitCodes(t *testing.T) {
	occEnv(t)
	code, out, _ := occ(t, "", "--help")
	if code != 0 || !strings.Contains(out, "Exit codes:") || !strings.Contains(out, "4    cannot reach containerd or BuildKit") {
		t.Fatalf("--help: exit %d\n%s", code, out)
	}
}
