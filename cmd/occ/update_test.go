package main

import (
	"strings"
	"testing"
)

// TestUpdateCommandLine: the update subcommands' flags and refusals, before
// any daemon or release is reached.
func TestUpdateCommandLine(t *testing.T) {
	occEnv(t)
	t.Setenv("OCC_RELEASE_URL", "http://127.0.0.1:9/")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"the selector off a terminal", []string{"update"}, 1, "pass --yes to apply every available update"},
		{"an npm tag is not a version", []string{"update", "opencode", "--version", "latest"}, 2, "not an opencode release version"},
		{"--version= too", []string{"update", "opencode", "--version=1.2"}, 2, "not an opencode release version"},
		{"rollback is the image's", []string{"update", "opencode", "--rollback"}, 2, "occ update --rollback"},
		{"rollback is not the CLI's", []string{"update", "cli", "--rollback"}, 2, "occ update --rollback"},
		{"not a release version", []string{"update", "cli", "--version", "1.x", "--yes"}, 1, "is not a release version"},
		{"not an http URL", []string{"update", "cli", "--yes", "--from", "ftp://example.com/releases"}, 1, "not an http(s) URL"},
		{"no release server", []string{"update", "cli", "--yes"}, 1, "find the occ release"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := occ(t, "", tt.args...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("occ %s: exit %d, want %d with %q\n%s", strings.Join(tt.args, " "), code, tt.wantCode, tt.wantErr, errOut)
			}
			if out != "" {
				t.Errorf("stdout: %q", out)
			}
		})
	}
}

func TestUpdateVersionFlag(t *testing.T) {
	for in, want := range map[string]string{
		"update cli --version 1.2.3":              "update cli --to 1.2.3",
		"update --yes opencode --version=1.18.40": "update --yes opencode --to=1.18.40",
		"--config c.json update cli --version 1":  "--config c.json update cli --to 1",
		"update --version":                        "update --version",
		"version --version":                       "version --version",
		"--version":                               "--version",
		"update cli -- --version":                 "update cli -- --version",
	} {
		got := strings.Join(updateVersionFlag(strings.Fields(in)), " ")
		if got != want {
			t.Errorf("updateVersionFlag(%s) = %s, want %s", in, got, want)
		}
	}
}
