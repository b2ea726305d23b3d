//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/internal/testutil"
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

// TestFirstRunWizard: with no config file, occ user list on a terminal
// runs the set-up wizard first (custom: port, this machine only, the
// default persistence mounts, a user; not started), then lists the users
// as asked. Off a terminal nothing is asked (today's defaults).
func TestFirstRunWizard(t *testing.T) {
	base := t.TempDir()
	home := filepath.Join(base, "home")
	in := testutil.NewInstall(t, base, "NO_COLOR=", "TERM=xterm-256color", "HOME="+home,
		"CONTAINERD_ADDRESS="+filepath.Join(base, "no-containerd.sock"))
	port := setupFreePort(t)

	// Not a terminal: no wizard, no config written.
	r := testutil.Run(context.Background(), t, testutil.OccBinary(t), in.Env, "", 0, "user", "list")
	if r.Code != 0 || !strings.Contains(r.Stderr, "No users yet") || strings.Contains(r.Stderr, "Setup mode") {
		t.Fatalf("user list off a terminal: %s", r)
	}
	if _, err := os.Stat(in.Paths.ConfigFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a config was written off a terminal: %v", err)
	}

	p := startPTY(t, in.Env, testutil.OccBinary(t), "user", "list")
	p.expect("occ has no configuration yet")
	p.expect("Setup mode")
	p.send(keyDown + keyEnter) // custom
	p.expect("Image source")
	p.send(keyEnter) // prebuilt
	p.expect("Web UI port")
	p.send(keyCtrlU + strconv.Itoa(port) + keyEnter)
	p.expect("Network access")
	p.send(keyEnter)
	p.expect("Persistence")
	p.expect("Default persistence mounts")
	p.send(keyDown + keyEnter)
	p.expect("✓ Mounts: " + home + "/.local/share/opencode:/home/opencoder/.local/share/opencode")
	p.expect("┃ Username")
	p.send(keyCtrlU + "dana" + keyEnter)
	p.expect("┃ Password")
	p.send("pw-of-dana" + keyEnter)
	p.expect("┃ Confirm password")
	p.send("pw-of-dana" + keyEnter)
	p.expect("Save this configuration?")
	p.expect(home + "/opencode:/home/opencoder/workspace")
	p.send(keyEnter)
	p.expect("Start opencode-cloud now?")
	p.send("n")
	p.expect("Setup complete! Continuing with: occ user list")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d; screen:\n%s", code, tail(p.screen()))
	}
	if !regexp.MustCompile(`(?m)^dana\s+enabled\s+-\s+-\s+-`).MatchString(p.screen()) {
		t.Errorf("the user list did not follow the wizard:\n%s", tail(p.screen()))
	}
	cfg, _, err := meta.LoadConfig(in.Paths.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OpencodeWebPort != port || len(cfg.Mounts) != 4 || cfg.Mounts[3] != home+"/opencode:/home/opencoder/workspace" {
		t.Errorf("config after the first run: port %d mounts %v", cfg.OpencodeWebPort, cfg.Mounts)
	}
	for _, d := range []string{".local/share/opencode", ".local/state/opencode", ".cache/opencode", "opencode"} {
		if st, err := os.Stat(filepath.Join(home, d)); err != nil || !st.IsDir() {
			t.Errorf("mount directory %s: %v", d, err)
		}
	}
}

// TestBareOcc: occ alone exits 0 with -q; with the service stopped it
// says so and, on a terminal, offers to start it (no: a hint; yes: start,
// then status); with it running it is occ status.
func TestBareOcc(t *testing.T) {
	f := newCmdFixture(t, nil)
	f.importImage(meta.Provenance{Source: meta.SourcePrebuilt, ImageVersion: meta.Version})
	if r := f.occ("-q"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("occ -q: %s", r)
	}
	r := f.occ()
	if r.code != 0 || !strings.Contains(r.stderr, "Note: Service is not running.") || !strings.Contains(r.stderr, "occ start") ||
		strings.Contains(r.stderr, "Start the service now?") {
		t.Errorf("occ off a terminal, stopped: %s", r)
	}
	out, code := f.occOnTTY([]ttyAnswer{{"Start the service now? [Y/n]", "n\r"}})
	if code != 0 || !strings.Contains(out, "Note: Service is not running.") || !strings.Contains(out, "Start it with 'occ start'") {
		t.Errorf("occ on a terminal, answered no: exit %d\n%s", code, out)
	}
	out, code = f.occOnTTY([]ttyAnswer{{"Start the service now? [Y/n]", "\r"}})
	if code != 0 {
		t.Fatalf("occ on a terminal, answered yes: exit %d\n%s", code, out)
	}
	wantContains(t, "occ, yes", out, "Service started", "URL:        http://127.0.0.1:", "State:          running")
	r = f.mustOK()
	wantContains(t, "occ while running", r.stdout, "State:          running\n", "Health:         Healthy\n")

	// config set while it runs: a key the container is made from asks for
	// a restart; one it is not made from does not.
	r = f.mustOK("config", "set", "rate_limit_attempts", "7")
	wantContains(t, "config set rate_limit_attempts, running", r.stderr, "Restart required for changes to take effect", "occ restart", "Set rate_limit_attempts = 7")
	if r = f.mustOK("config", "set", "update_check", "never"); strings.Contains(r.stderr, "Restart required") {
		t.Errorf("config set update_check asked for a restart: %s", r)
	}
	if r = f.mustOK("config", "get", "users"); r.stdout != "alice\n" {
		t.Errorf("config get users: %q", r.stdout)
	}
}

// TestSetupWizardEditMounts edits the mount list in custom setup: a host
// directory that does not exist is refused at the prompt (pkg/meta's
// checks), an existing one is taken; Esc then cancels with nothing saved.
func TestSetupWizardEditMounts(t *testing.T) {
	env, paths := setupEnv(t)
	if err := meta.SaveConfig(paths.ConfigFile, meta.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(paths.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := startPTY(t, env, testutil.OccBinary(t), "setup")
	p.expect("Reconfigure?")
	p.send("y")
	p.expect("Setup mode")
	p.send(keyDown + keyEnter) // custom
	p.expect("Image source")
	p.send(keyEnter)
	p.expect("Web UI port")
	p.send(keyCtrlU + strconv.Itoa(setupFreePort(t)) + keyEnter)
	p.expect("Network access")
	p.send(keyEnter)
	p.expect("Persistence")
	p.send(keyDown + keyDown + keyEnter) // edit the list
	p.expect("comma-separated or one per line")
	p.send("/nonexistent/occ-ux:/home/opencoder/workspace" + keyEnter)
	p.expect("host directory /nonexistent/occ-ux does not exist")
	p.send(keyCtrlU + dir + ":/home/opencoder/workspace:ro" + keyEnter)
	p.expect("✓ Mounts: " + dir + ":/home/opencoder/workspace:ro")
	p.expect("┃ Username")
	p.send(keyEsc)
	p.expect("Setup cancelled; nothing was changed.")
	if code := p.wait(); code != 130 {
		t.Fatalf("exit %d; screen:\n%s", code, tail(p.screen()))
	}
	if after, err := os.ReadFile(paths.ConfigFile); err != nil || string(after) != string(before) {
		t.Errorf("the config changed on cancel: %v\n%s", err, after)
	}
}
