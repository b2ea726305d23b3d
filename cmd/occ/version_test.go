package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
)

func TestParseRuncVersion(t *testing.T) {
	tests := []struct {
		name, out, version, commit string
	}{
		{"debian", "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\nlibseccomp: 2.5.4\n", "1.1.5+ds1", "1.1.5+ds1-1+deb12u1"},
		{"upstream", "runc version 1.2.4\ncommit: v1.2.4-0-g6c52b3fc\nspec: 1.2.0\ngo: go1.22.10\n", "1.2.4", "v1.2.4-0-g6c52b3fc"},
		{"no commit line", "runc version 1.0.0\n", "1.0.0", ""},
		{"not runc", "usage: something\n", "", ""},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, c := parseRuncVersion(tt.out)
			if v != tt.version || c != tt.commit {
				t.Errorf("parseRuncVersion = %q, %q; want %q, %q", v, c, tt.version, tt.commit)
			}
		})
	}
}

// Without daemons, and with a config that does not load, occ version still
// answers: its own build, each daemon's failure, the config's error.
func TestVersionWithoutDaemons(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name      string
		config    string // written to the config file when not empty
		configErr bool
	}{
		{"no config", "", false},
		{"broken config", "{ not json", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgFile := occEnv(t)
			if tt.config != "" {
				if err := os.MkdirAll(filepath.Dir(cfgFile), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(cfgFile, []byte(tt.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("CONTAINERD_ADDRESS", filepath.Join(dir, "containerd.sock"))
			t.Setenv("BUILDKIT_HOST", "unix://"+filepath.Join(dir, "buildkitd.sock"))
			t.Setenv("PATH", dir)
			start := time.Now()
			code, out, errOut := occ(t, "", "version", "--json")
			if code != 0 {
				t.Fatalf("occ version --json: %d %s", code, errOut)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %s without daemons", took)
			}
			var r versionReport
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if r.Occ.Version != meta.Version || r.Occ.GoVersion != goruntime.Version() || r.Occ.Platform != goruntime.GOOS+"/"+goruntime.GOARCH {
				t.Errorf("occ: %+v", r.Occ)
			}
			if !strings.Contains(r.Containerd.Error, "not reachable") || r.Containerd.Address != filepath.Join(dir, "containerd.sock") ||
				!strings.Contains(r.Buildkit.Error, "not reachable") || r.Runc.Error != "not found on PATH" {
				t.Errorf("daemons: %+v %+v %+v", r.Containerd, r.Buildkit, r.Runc)
			}
			if (r.ConfigErr != "") != tt.configErr {
				t.Errorf("config_error = %q", r.ConfigErr)
			}
			code, out, errOut = occ(t, "", "version")
			if code != 0 || !strings.Contains(out, "Version:    "+meta.Version) || !strings.Contains(out, "containerd:\n  not reachable") {
				t.Errorf("occ version: %d\n%s%s", code, out, errOut)
			}
			if tt.configErr && !strings.Contains(errOut, "the config did not load") {
				t.Errorf("no warning about the config: %q", errOut)
			}
		})
	}
}
