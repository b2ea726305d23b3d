package main

import (
	"encoding/json"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/opencode-cloud/occ/pkg/kube"
	"github.com/opencode-cloud/occ/pkg/ops"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// keysOf is the sorted top-level keys of a JSON object.
func keysOf(t *testing.T, data []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, data)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestJSONShapes pins the objects docs/json.md documents: the keys each
// one always has (omitempty keys are listed where a full value is given).
func TestJSONShapes(t *testing.T) {
	started := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	yes := true
	var code uint32 = 1
	full := &ops.StatusReport{State: "running", Installed: &yes, BootMode: "user", Config: "/c", URL: "http://127.0.0.1:3000",
		Health: "healthy", StartedAt: &started, UptimeSecs: 5, Published: "127.0.0.1:3000", Port: 3000, Network: "cni",
		LastRun: &started, ExitCode: &code, Container: "opencode-cloud-sandbox", Pid: 7, Image: "i", ImageDigest: "sha256:1",
		CLIVersion: "1.0.0", ImageVersion: "1.0.0", VersionMatch: &yes, NotSandbox: true,
		Source: &ops.SourceFacts{Source: "prebuilt"}, Disk: &ops.DiskFacts{}, Mounts: &ops.MountFacts{},
		Security: ops.SecurityFacts{Isolation: &runtime.Isolation{}, IsolationConfigured: true}}
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"status (all fields)", full, "boot_mode cli_version config container disk exit_code health image image_digest image_version installed last_run mounts network_mode not_occ_sandbox pid port published security source started_at state uptime_seconds url version_match"},
		{"status (missing)", &ops.StatusReport{State: "missing"}, "cli_version config security state"},
		{"status security", ops.SecurityFacts{}, "allow_unauthenticated_network binding exposed rate_limit_attempts rate_limit_window_seconds trust_proxy users"},
		{"status source", ops.SourceFacts{}, "source"},
		{"status disk", ops.DiskFacts{Host: &ops.HostDisk{}}, "host images_bytes logs_bytes snapshots_bytes total_bytes volumes_bytes"},
		{"host disk", ops.HostDisk{}, "available_bytes path total_bytes used_bytes"},
		{"status mounts", ops.MountFacts{DiffersFromConfig: true}, "binds differs_from_config in_force volumes"},
		{"mount", ops.MountEntry{}, "container host origin read_only"},
		{"mount add", &ops.MountChangeResult{}, "applied change mounts"},
		{"mount list", &ops.MountList{}, "applied mounts"},
		{"mount clean", &ops.CleanResult{}, "cleaned purged"},
		{"reset", &ops.ResetResult{}, "disk_after disk_before reclaimed_bytes removed"},
		{"user list", userListJSON{Users: []ops.UserInfo{}}, "users"},
		{"user", ops.UserInfo{}, "enabled username"},
		{"config get", configGetJSON{Key: "port", Value: 3000}, "key value"},
		{"image", imageJSON{}, "created_at media_type name size target_digest updated_at"},
		{"start", &ops.StartResult{}, "already_running container exposed url users"},
		{"restart", &ops.RestartResult{}, "container exposed recreated url users"},
		{"stop", &ops.StopResult{}, "killed message removed was_running"},
		{"update", &ops.UpdateResult{URL: "u", Container: "c"}, "container from reclaimed_bytes recreated started to up_to_date url"},
		{"update cli", &ops.UpdateCLIResult{Signer: "s"}, "from path restarted signer to up_to_date"},
		{"update selector", updateSelection{CLI: &ops.UpdateCLIResult{}, Container: &ops.UpdateResult{}, Opencode: &ops.UpdateResult{}}, "candidates cli container opencode selected"},
		{"update candidate", ops.UpdateCandidate{Available: "a", Note: "n"}, "available current label name note"},
		{"version", versionReport{}, "buildkit containerd occ runc"},
		{"instance list", instanceListJSON{Instances: []ops.InstanceInfo{}}, "instances"},
		{"instance", ops.InstanceInfo{Published: "p", Image: "i"}, "container image instance published state"},
		{"user list --kube", kubeUsersJSON([]runtime.UserRecord{{Username: "a"}}), "users"},
		{"user (--kube)", kubeUsersJSON([]runtime.UserRecord{{Username: "a", PasswordHash: "$6$secret", Locked: true}}).Users[0], "enabled username"},
		{"kube apply", &kube.Deployed{Previous: "p", Verified: "v"}, "applied image previous verified"},
		{"kube applied", kube.Applied{}, "kind name resource_version"},
		{"kube status (all fields)", &kube.Status{Context: "c", Image: "i", Previous: "p", Verified: "v", Revision: "r"},
			"context exists image namespace pods previous ready replicas revision updated users verified"},
		{"kube status (nothing applied)", &kube.Status{}, "exists namespace pods ready replicas updated users"},
		{"kube pod", kube.PodStatus{Node: "n", IP: "i", ImageID: "d", StartedAt: started, Reason: "r"},
			"image image_id ip name node phase ready reason restarts started_at"},
		{"kube pod (pending)", kube.PodStatus{}, "image name phase ready restarts"},
		{"kube port-forward", kube.Forwarding{}, "local pod remote url"},
		{"version occ", occVersion{}, "commit go_version platform version"},
		{"error", jsonFailure{Error: jsonError{}}, "error"},
		{"status error", jsonFailure{State: "unknown"}, "error state"},
		{"error body", jsonError{Hint: "h"}, "code exit_code hint message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(keysOf(t, b), " "); got != tc.want {
				t.Errorf("keys\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestJSONFailures: under --json a failure prints the error object on
// stdout (the human line stays on stderr) and keeps the exit code; without
// --json stdout stays empty.
func TestJSONFailures(t *testing.T) {
	dead := filepath.Join(t.TempDir(), "dead.sock")
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		class string
		state string
	}{
		{"status, containerd unreachable", []string{"status", "--json"}, exitUnreachable, "unreachable", "unknown"},
		{"config get, unknown key", []string{"config", "get", "nope", "--json"}, exitFailure, "invalid_argument", ""},
		{"unknown flag", []string{"user", "list", "--json", "--bogus"}, exitUsage, "usage", ""},
		{"instance list, containerd unreachable", []string{"instance", "list", "--json"}, exitUnreachable, "unreachable", ""},
		{"update container (parent's --json), no kubeconfig", []string{"update", "container", "--json", "--kube", "--kubeconfig", "/nonexistent/kubeconfig"}, exitFailure, "unknown", ""},
		{"kube status, no kubeconfig", []string{"kube", "status", "--json", "--kubeconfig", "/nonexistent/kubeconfig"}, exitFailure, "unknown", ""},
		{"kube apply, no kubeconfig", []string{"kube", "apply", "--json", "--kubeconfig", "/nonexistent/kubeconfig"}, exitFailure, "unknown", ""},
		{"kube port-forward, no kubeconfig", []string{"kube", "port-forward", "--json", "--kubeconfig", "/nonexistent/kubeconfig"}, exitFailure, "unknown", ""},
		{"user list --kube, no kubeconfig", []string{"user", "list", "--kube", "--json", "--kubeconfig", "/nonexistent/kubeconfig"}, exitFailure, "unknown", ""},
		{"status without --json", []string{"status"}, exitUnreachable, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			occEnv(t)
			t.Setenv("CONTAINERD_ADDRESS", dead)
			code, out, errOut := occ(t, "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.code, errOut)
			}
			if errOut == "" {
				t.Error("nothing on stderr")
			}
			if tc.class == "" {
				if out != "" {
					t.Errorf("stdout without --json: %q", out)
				}
				return
			}
			var f jsonFailure
			if err := json.Unmarshal([]byte(out), &f); err != nil {
				t.Fatalf("stdout is not the error object: %v\n%s", err, out)
			}
			if f.Error.Code != tc.class || f.Error.ExitCode != tc.code || f.Error.Message == "" || f.State != tc.state {
				t.Errorf("error object %+v", f)
			}
		})
	}
}

// TestJSONResults: user list and config get print their objects.
func TestJSONResults(t *testing.T) {
	occEnv(t)
	if code, out, errOut := occ(t, "", "user", "list", "--json"); code != 0 || strings.TrimSpace(out) != "{\n  \"users\": []\n}" {
		t.Errorf("user list --json: %d %q %q", code, out, errOut)
	}
	code, out, _ := occ(t, "", "config", "get", "port", "--json")
	var g configGetJSON
	if err := json.Unmarshal([]byte(out), &g); code != 0 || err != nil || g.Key != "opencode_web_port" || g.Value != float64(3000) {
		t.Errorf("config get port --json: %d %q %v", code, out, err)
	}
}

// TestEveryJSONFlagReportsFailures: every command that takes --json (its
// own or a parent's, as occ update container takes update's) reports a
// failure as the error object: the flag's owner implements jsonCommand and
// wantsJSON follows the flag. Walks the kong model, so a new command with
// --json cannot forget it.
func TestEveryJSONFlagReportsFailures(t *testing.T) {
	var cli CLI
	p, err := newParser(&cli, io.Discard, io.Discard, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	var walk func(n *kong.Node, path string)
	walk = func(n *kong.Node, path string) {
		for _, c := range n.Children {
			if c.Type != kong.CommandNode {
				continue
			}
			path := strings.TrimSpace(path + " " + c.Name)
			walk(c, path)
			var flag *kong.Flag
			for o := c; o != nil && flag == nil; o = o.Parent {
				for _, f := range o.Flags {
					if f.Name == "json" {
						flag = f
					}
				}
			}
			if flag == nil {
				continue
			}
			seen++
			j := jsonCommandOf(c)
			if j == nil {
				t.Errorf("occ %s --json: its command does not implement wantsJSON (cmd/occ/json.go), so a failure prints no error object", path)
				continue
			}
			flag.Target.SetBool(true)
			on := j.wantsJSON()
			flag.Target.SetBool(false)
			if !on || j.wantsJSON() {
				t.Errorf("occ %s: wantsJSON does not follow --json (%T)", path, j)
			}
		}
	}
	walk(p.Model.Node, "")
	if seen < 20 {
		t.Errorf("%d commands with --json found, want at least 20: is the walk broken?", seen)
	}
}

// TestKubeUsersJSON: occ user list --kube --json is user list's object,
// enabled from the record's lock, never the hash, [] when there are none.
func TestKubeUsersJSON(t *testing.T) {
	for _, tc := range []struct {
		name    string
		records []runtime.UserRecord
		want    string
	}{
		{"none", nil, `{"users":[]}`},
		{"two", []runtime.UserRecord{{Username: "alice", PasswordHash: "$6$a"}, {Username: "bob", PasswordHash: "$6$b", Locked: true}},
			`{"users":[{"username":"alice","enabled":true},{"username":"bob","enabled":false}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(kubeUsersJSON(tc.records))
			if err != nil || string(b) != tc.want {
				t.Errorf("got %s (%v), want %s", b, err, tc.want)
			}
		})
	}
}
