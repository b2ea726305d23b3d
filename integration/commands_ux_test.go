//go:build integration

package integration

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// TestCommandsStopEnterKills: occ stop on a terminal, against a sandbox
// that ignores SIGTERM, offers "Press Enter to force kill now"; Enter
// kills it long before the 60 s timeout and the result line says so.
func TestCommandsStopEnterKills(t *testing.T) {
	f := newCmdFixture(t, func(c *meta.Config) { c.ContainerEnv = []string{"IGNORE_SIGTERM=1"} })
	f.importImage(meta.Provenance{Source: meta.SourcePrebuilt, ImageVersion: meta.Version})
	f.startSandbox()

	start := time.Now()
	out, code := f.occOnTTY([]ttyAnswer{{"Press Enter to force kill now.", "\r"}}, "stop", "-t", "60")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("stop: exit %d:\n%s", code, out)
	}
	wantContains(t, "stop on a terminal", out, "Stopping service (1m0s graceful timeout, then force kill)... Press Enter to force kill now.",
		"Service stopped (force killed on request)")
	t.Logf("stop with Enter took %s", took)
	if took > 30*time.Second {
		t.Errorf("stop took %s after Enter: the kill did not happen on request", took)
	}
	if st, err := f.sandbox().Status(f.ctx); err != nil || st.State == runtime.StateRunning {
		t.Errorf("after stop: %v %v", st.State, err)
	}

	// Off a terminal nothing is offered, and the timeout kills.
	f.startSandbox()
	r := f.occ("stop", "-t", "1", "--json")
	var res map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 {
		t.Fatalf("stop --json: %v\n%s", err, r)
	}
	if res["killed"] != true || res["killed_on_request"] != nil || res["message"] != "Service stopped (force killed after 1s timeout)" {
		t.Errorf("stop --json off a terminal: %v", res)
	}
	if strings.Contains(r.stderr, "Press Enter") {
		t.Errorf("stop off a terminal offered Enter:\n%s", r)
	}
}

// TestCommandsUserListAccounts: occ user list shows each record, and
// while the sandbox runs its account's UID, home and shell from the
// sandbox's /etc/passwd; "-" for a record it has no account for.
func TestCommandsUserListAccounts(t *testing.T) {
	f := newCmdFixture(t, func(c *meta.Config) { c.Users = []string{"alice", "bob"} })
	f.importImage(meta.Provenance{Source: meta.SourcePrebuilt, ImageVersion: meta.Version})

	// Stopped: the records only.
	r := f.mustOK("user", "list")
	if !regexp.MustCompile(`(?m)^USERNAME\s+STATUS\s+UID\s+HOME\s+SHELL$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^alice\s+enabled\s+-\s+-\s+-$`).MatchString(r.stdout) {
		t.Errorf("user list, no sandbox:\n%s", r)
	}

	// Running: the test image has no login accounts of its own; give alice
	// one the way the sandbox's users tool would.
	f.startSandbox()
	code, err := f.sandbox().Exec(f.ctx, runtime.ExecOptions{Args: []string{"sh", "-c",
		"echo 'alice:x:1001:1001:opencode-cloud user:/nonexistent:/usr/sbin/nologin' >> /etc/passwd"}})
	if err != nil || code != 0 {
		t.Fatalf("add alice's account: %d %v", code, err)
	}
	r = f.mustOK("user", "list")
	if !regexp.MustCompile(`(?m)^alice\s+enabled\s+1001\s+/nonexistent\s+/usr/sbin/nologin$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^bob\s+enabled\s+-\s+-\s+-$`).MatchString(r.stdout) {
		t.Errorf("user list, running:\n%s", r)
	}
	r = f.mustOK("user", "list", "--json")
	var js struct {
		Users []struct {
			Username string  `json:"username"`
			UID      *uint32 `json:"uid"`
			Home     string  `json:"home"`
			Shell    string  `json:"shell"`
		} `json:"users"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &js); err != nil || len(js.Users) != 2 {
		t.Fatalf("user list --json: %v\n%s", err, r)
	}
	if a := js.Users[0]; a.Username != "alice" || a.UID == nil || *a.UID != 1001 || a.Home != "/nonexistent" || a.Shell != "/usr/sbin/nologin" {
		t.Errorf("user list --json alice: %+v", a)
	}
	if b := js.Users[1]; b.Username != "bob" || b.UID != nil || b.Home != "" {
		t.Errorf("user list --json bob: %+v", b)
	}
	if r := f.mustOK("-q", "user", "list"); r.stdout != "alice\nbob\n" {
		t.Errorf("user list -q: %q", r.stdout)
	}
}
