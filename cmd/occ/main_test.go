package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/internal/testutil"
)

// occEnv isolates a test's config and data directories.
func occEnv(t *testing.T) (configFile string) {
	t.Helper()
	in := testutil.NewInstall(t, "")
	in.Setenv(t)
	return in.Paths.ConfigFile
}

func occ(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersionAndHelp(t *testing.T) {
	occEnv(t)
	code, out, _ := occ(t, "", "--version")
	if code != 0 || !strings.HasPrefix(out, "occ ") || !strings.Contains(out, "commit") {
		t.Fatalf("--version: %d %q", code, out)
	}
	code, out, _ = occ(t, "", "--help")
	if code != 0 || !strings.Contains(out, "config set") {
		t.Fatalf("--help: %d %q", code, out)
	}
	if code, _, errOut := occ(t, "", "frobnicate"); code == 0 || !strings.Contains(errOut, "frobnicate") {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
}

func TestConfigSetGet(t *testing.T) {
	cfgFile := occEnv(t)
	tests := []struct {
		args     []string
		stdin    string
		wantCode int
		wantOut  string // substring of stdout
		wantErr  string // substring of stderr
	}{
		{args: []string{"config", "get", "image_source"}, wantOut: "prebuilt\n"},
		{args: []string{"config", "set", "image_source", "build"}, wantErr: "Set image_source = build"},
		{args: []string{"config", "get", "image_source"}, wantOut: "build\n"},
		{args: []string{"config", "set", "update_check", "never"}},
		{args: []string{"config", "get", "update_check"}, wantOut: "never\n"},
		{args: []string{"config", "set", "port", "3100"}},
		{args: []string{"config", "get", "opencode_web_port"}, wantOut: "3100\n"},
		{args: []string{"config", "set", "image_source", "nonsense"}, wantCode: 1, wantErr: "must be prebuilt or build"},
		{args: []string{"config", "set", "imagesource", "build"}, wantCode: 1, wantErr: `did you mean "image_source"`},
		{args: []string{"config", "set", "password", "hunter2"}, wantCode: 1, wantErr: "never taken from the command line"},
		{args: []string{"config", "set", "password"}, stdin: "s3cret\n", wantCode: 1, wantErr: "occ user add"},
		{args: []string{"config", "get", "password"}, wantOut: "\n"},
		{args: []string{"config", "set", "bind_address", "0.0.0.0"}, wantErr: "Network exposure enabled"},
		{args: []string{"config", "set", "allow_unauthenticated_network", "true"}, wantCode: 1, wantErr: "--force"},
		{args: []string{"config", "set", "allow_unauthenticated_network", "true", "--force"}},
		{args: []string{"config", "env", "set", "FOO=hunter2"}, wantCode: 1, wantErr: "never taken from the command line"},
		{args: []string{"config", "env", "set", "FOO"}, stdin: "bar\n", wantErr: "Set FOO (value hidden"},
		{args: []string{"config", "env", "set", "FOO"}, stdin: "s3cret\n"},
		{args: []string{"config", "env", "set", "PATH"}, stdin: "/tmp/evil\n", wantCode: 1, wantErr: "PATH may not be set"},
		{args: []string{"config", "env", "set", "LD_PRELOAD"}, stdin: "/tmp/evil.so\n", wantCode: 1, wantErr: "dynamic loader"},
		{args: []string{"config", "env", "set", "BASH_ENV"}, stdin: "/tmp/x\n", wantCode: 1, wantErr: "may not be set"},
		{args: []string{"config", "env", "list"}, wantOut: "  FOO=********\n"},
		{args: []string{"config", "get", "env"}, wantOut: `["FOO=********"]`},
		{args: []string{"config", "show"}, wantOut: "FOO=********"},
		{args: []string{"config", "show", "--json"}, wantOut: `"FOO=********"`},
		{args: []string{"config", "env", "set", "FOO"}, stdin: "baz\n"},
		{args: []string{"config", "env", "list", "--show-secrets"}, wantOut: "  FOO=baz\n"},
		{args: []string{"config", "get", "env", "--show-secrets"}, wantOut: `["FOO=baz"]`},
		{args: []string{"config", "show", "--show-secrets"}, wantOut: "FOO=baz"},
		{args: []string{"config", "env", "remove", "FOO"}},
		{args: []string{"config", "env", "remove", "FOO"}, wantCode: 1, wantErr: "not set"},
		{args: []string{"config", "path"}, wantOut: cfgFile + "\n"},
		{args: []string{"config", "show"}, wantOut: "image_source"},
		{args: []string{"config"}, wantOut: "Config file: " + cfgFile},
		{args: []string{"config", "show", "--json"}, wantOut: `"auth_password": null`},
		{args: []string{"config", "reset"}, wantCode: 1, wantErr: "--force"},
		{args: []string{"config", "reset", "--force"}, wantErr: "reset to defaults"},
		{args: []string{"config", "get", "image_source"}, wantOut: "prebuilt\n"},
	}
	for _, tt := range tests {
		code, out, errOut := occ(t, tt.stdin, tt.args...)
		if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errOut, tt.wantErr) {
			t.Fatalf("occ %s\n code %d (want %d)\n stdout %q (want %q)\n stderr %q (want %q)",
				strings.Join(tt.args, " "), code, tt.wantCode, out, tt.wantOut, errOut, tt.wantErr)
		}
		if strings.Contains(out+errOut, "hunter2") || strings.Contains(out+errOut, "s3cret") {
			t.Fatalf("occ %s printed a secret", strings.Join(tt.args, " "))
		}
	}
	if _, err := os.Stat(cfgFile + ".bak"); err != nil {
		t.Fatalf("no backup kept: %v", err)
	}
}

// Rejected input leaves the file byte for byte as it was.
func TestBadInputLeavesFileUnchanged(t *testing.T) {
	cfgFile := occEnv(t)
	if code, _, errOut := occ(t, "", "config", "set", "image_tag", "v1"); code != 0 {
		t.Fatal(errOut)
	}
	good, _ := os.ReadFile(cfgFile)
	for _, args := range [][]string{
		{"config", "set", "image_source", "nonsense"},
		{"config", "set", "update_check", "sometimes"},
		{"config", "set", "port", "80"},
		{"config", "set", "bind_address", "300.1.1.1"},
		{"config", "set", "image_digest", "sha256:123"},
		{"config", "set", "network_mode", "bridge"},
		{"config", "set", "mounts", "relative:/x"},
		{"config", "set", "nope", "1"},
		{"config", "env", "set", "NOEQUALS"},
	} {
		if code, _, _ := occ(t, "", args...); code == 0 {
			t.Fatalf("occ %v succeeded", args)
		}
		if now, _ := os.ReadFile(cfgFile); !bytes.Equal(now, good) {
			t.Fatalf("occ %v changed the file", args)
		}
	}

	// A file that does not load is never overwritten by set.
	broken := []byte("{\n  // hand edited\n  \"image_source\": \"build\",,\n}\n")
	if err := os.WriteFile(cfgFile, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := occ(t, "", "config", "set", "image_tag", "v2")
	if code == 0 || !strings.Contains(errOut, "Configuration error") || !strings.Contains(errOut, "not changed") {
		t.Fatalf("set on a broken file: %d %q", code, errOut)
	}
	if now, _ := os.ReadFile(cfgFile); !bytes.Equal(now, broken) {
		t.Fatal("a broken file was overwritten")
	}
}

func TestConfigFlagAndEnv(t *testing.T) {
	occEnv(t)
	other := filepath.Join(t.TempDir(), "custom.json")
	if code, _, errOut := occ(t, "", "--config", other, "config", "set", "image_source", "build"); code != 0 {
		t.Fatal(errOut)
	}
	t.Setenv("OCC_CONFIG", other)
	if _, out, _ := occ(t, "", "config", "get", "image_source"); out != "build\n" {
		t.Fatalf("OCC_CONFIG not honoured: %q", out)
	}
}
