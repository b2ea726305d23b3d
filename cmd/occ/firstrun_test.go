package main

import (
	"testing"

	"github.com/opencode-cloud/occ/pkg/meta"
)

func TestNeedsFirstRun(t *testing.T) {
	for cmd, want := range map[string]bool{
		"bare": true, "start": true, "status": true, "user list": true, "user add <username>": true, "logs": true,
		"setup": false, "config path": false, "config set <key> <value>": false, "version": false,
		"completion <shell>": false, "doctor": false, "log-driver <path>": false, "": false,
		"host add <name> <hostname>": false, "host list": false,
	} {
		if got := needsFirstRun(cmd); got != want {
			t.Errorf("needsFirstRun(%q) = %v, want %v", cmd, got, want)
		}
	}
}

func TestDisplayCommand(t *testing.T) {
	for in, want := range map[string]string{
		"user add <username>": "user add", "start": "start", "bare": "(no command: status)",
	} {
		if got := displayCommand(in); got != want {
			t.Errorf("displayCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMountLines(t *testing.T) {
	got := mountLines(" /a:/b \n\n/c:/d:ro, /e:/f\n")
	want := []string{"/a:/b", "/c:/d:ro", "/e:/f"}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if shownOrNone(nil) != "(none)" || shownOrNone([]string{"/a:/b", "/c:/d"}) != "/a:/b, /c:/d" {
		t.Error("shownOrNone")
	}
}

// TestNeedsRestart: only settings a running container is made from ask
// for a restart after the wizard.
func TestNeedsRestart(t *testing.T) {
	cfg := meta.DefaultConfig()
	same := setupPlan{ImageSource: cfg.ImageSource, Port: cfg.OpencodeWebPort, BindAddress: cfg.BindAddress}
	tests := []struct {
		name string
		p    func(p setupPlan) setupPlan
		want bool
	}{
		{"nothing changed", func(p setupPlan) setupPlan { return p }, false},
		{"a new user", func(p setupPlan) setupPlan { p.User = "erin"; return p }, false},
		{"image source", func(p setupPlan) setupPlan { p.ImageSource = meta.SourceBuild; return p }, false},
		{"port", func(p setupPlan) setupPlan { p.Port = cfg.OpencodeWebPort + 1; return p }, true},
		{"bind address", func(p setupPlan) setupPlan { p.BindAddress = "0.0.0.0"; return p }, true},
		{"mounts", func(p setupPlan) setupPlan {
			p.SetMounts, p.Mounts = true, "/srv/x:/home/opencoder/workspace"
			return p
		}, true},
		{"mounts set to the same", func(p setupPlan) setupPlan { p.SetMounts = true; return p }, false},
	}
	for _, tt := range tests {
		if got := tt.p(same).needsRestart(cfg); got != tt.want {
			t.Errorf("%s: needsRestart = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDefaultMountsParse(t *testing.T) {
	for _, m := range defaultMounts("/home/alice") {
		if _, err := meta.ParseMount(m); err != nil {
			t.Errorf("default mount %s: %v", m, err)
		}
	}
}
