package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The host commands and the choice of target, without a network: hosts are
// added with --no-verify, and remote runs fail before connecting.
func TestHostCommandsAndTarget(t *testing.T) {
	cfgFile := occEnv(t)
	hostsFile := filepath.Join(filepath.Dir(cfgFile), "hosts.json")
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string // substring of stdout
		wantErr  string // substring of stderr
	}{
		{args: []string{"host", "list"}, wantErr: "No remote hosts yet"},
		{args: []string{"host", "default"}, wantOut: "local\n"},
		{args: []string{"--remote-host", "nope", "config", "path"}, wantCode: 1, wantErr: `no remote host "nope"`},
		{args: []string{"--remote-host", "a", "--local", "config", "path"}, wantCode: 2, wantErr: "can't be used together"},
		{args: []string{"--remote-host", "a", "host", "list"}, wantCode: 2, wantErr: "runs on this machine"},
		{args: []string{"host", "add", "local", "h", "--no-verify"}, wantCode: 2, wantErr: "reserved"},
		{args: []string{"host", "add", "a", "user@h", "--no-verify"}, wantCode: 2, wantErr: "invalid hostname"},
		{args: []string{"host", "add", "a", "h.example", "-p", "2222", "-g", "web", "--no-verify"}, wantErr: "Added host a"},
		{args: []string{"host", "add", "a", "h.example", "--no-verify"}, wantCode: 1, wantErr: "already exists"},
		{args: []string{"host", "add", "b", "h2.example", "-J", "me@jump:2200", "--no-verify"}},
		{args: []string{"host", "list", "--names-only"}, wantOut: "a\nb\n"},
		{args: []string{"host", "list", "-g", "web", "--names-only"}, wantOut: "a\n"},
		{args: []string{"host", "show", "b", "--json"}, wantOut: `"jump_host": "me@jump:2200"`},
		{args: []string{"host", "edit", "b", "-J", ""}},
		{args: []string{"host", "show", "b", "--json"}, wantOut: `"jump_host": null`},
		{args: []string{"host", "edit", "b", "-p", "70000"}, wantCode: 2, wantErr: "invalid port"},
		{args: []string{"host", "default", "nope"}, wantCode: 1, wantErr: `no remote host "nope"`},
		{args: []string{"host", "default", "a"}, wantErr: "run on a by default"},
		{args: []string{"host", "list", "--json"}, wantOut: `"default_host": "a"`},
		// With a default host, commands go there (here: a key that does not
		// exist, so the run fails before connecting), unless --local.
		{args: []string{"host", "edit", "a", "-i", "/nonexistent-key"}},
		{args: []string{"config", "path"}, wantCode: 1, wantErr: "remote host a: identity file"},
		{args: []string{"status", "--json"}, wantCode: 1, wantOut: `"code": "`},
		{args: []string{"--local", "config", "path"}, wantOut: cfgFile},
		{args: []string{"host", "remove", "a"}, wantCode: 1, wantErr: "--force"},
		{args: []string{"host", "remove", "a", "-f"}, wantErr: "was the default host"},
		{args: []string{"host", "default"}, wantOut: "local\n"},
	}
	for _, tt := range tests {
		code, out, errOut := occ(t, "", tt.args...)
		if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errOut, tt.wantErr) {
			t.Fatalf("occ %s: exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stdout %q, stderr %q",
				strings.Join(tt.args, " "), code, tt.wantCode, out, errOut, tt.wantOut, tt.wantErr)
		}
	}
	// A hosts file with a field upstream does not know is refused, by every
	// command that reads it, and left as it is.
	bad := `{"version":1,"default_host":null,"hosts":{},"colour":"red"}`
	if err := os.WriteFile(hostsFile, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := occ(t, "", "config", "path"); code != 1 || !strings.Contains(errOut, `unknown field "colour"`) {
		t.Fatalf("a bad hosts file: exit %d, %s", code, errOut)
	}
	if data, _ := os.ReadFile(hostsFile); string(data) != bad {
		t.Errorf("the bad hosts file was changed: %s", data)
	}
}
