//go:build integration

package integration

import (
	"strings"
	"testing"
)

// TestCommandsExitCodes checks the exit codes that need a real containerd
// (README "Exit codes"; the rest are pinned by cmd/occ's TestExitCodes):
// status -q is 3 with no container, 4 when containerd's socket is not
// there, 0 for a command that reached containerd, and 2 for a usage error.
func TestCommandsExitCodes(t *testing.T) {
	f := newCmdFixture(t, nil)
	tests := []struct {
		name string
		args []string
		dead bool // containerd_address at a socket that is not there
		want int
	}{
		{name: "reached containerd", args: []string{"image", "ls"}, want: 0},
		{name: "not running", args: []string{"-q", "status"}, want: 3},
		{name: "usage error", args: []string{"status", "--bogus"}, want: 2},
		{name: "containerd unreachable", args: []string{"-q", "status"}, dead: true, want: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.dead {
				live := f.cfg.ContainerdAddr
				f.cfg.ContainerdAddr = f.base + "/dead.sock"
				f.saveConfig()
				defer func() { f.cfg.ContainerdAddr = live; f.saveConfig() }()
			}
			r := f.occ(tt.args...)
			if r.code != tt.want {
				t.Errorf("occ %v: %s\nwant exit %d", tt.args, r, tt.want)
			}
			if tt.want != 0 && r.stdout != "" {
				t.Errorf("occ %v: stdout should be empty: %q", tt.args, r.stdout)
			}
		})
	}
}

// TestCommandsDaemonFlags: against the real containerd, --address and
// $CONTAINERD_ADDRESS win over a config pointing at a dead socket, and -n
// before the command picks the namespace (flag > environment > config).
func TestCommandsDaemonFlags(t *testing.T) {
	f := newCmdFixture(t, nil)
	live := f.cfg.ContainerdAddr
	f.cfg.ContainerdAddr = f.base + "/dead.sock"
	f.saveConfig()
	if r := f.occ("image", "ls"); r.code != 4 {
		t.Fatalf("config at a dead socket: %s\nwant exit 4", r)
	}
	if r := f.occ("--address", live, "image", "ls"); r.code != 0 {
		t.Errorf("--address over the config: %s", r)
	}
	env := f.env
	f.env = append(append([]string{}, env...), "CONTAINERD_ADDRESS="+live)
	r := f.occ("image", "ls")
	wantContains(t, "$CONTAINERD_ADDRESS over the config", r.stderr, "namespace "+cmdNamespace)
	if r.code != 0 {
		t.Errorf("$CONTAINERD_ADDRESS over the config: %s", r)
	}
	r = f.occ("-n", "occ-cmd-test-other", "image", "ls")
	wantContains(t, "-n before the command", r.stderr, "namespace occ-cmd-test-other")
	if r := f.occ("--address", f.base+"/dead2.sock", "image", "ls"); r.code != 4 || !strings.Contains(r.stderr, "dead2.sock") {
		t.Errorf("--address over $CONTAINERD_ADDRESS: %s", r)
	}
	f.env = env
}
