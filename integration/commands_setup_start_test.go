//go:build integration

package integration

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// setupPTY runs `occ setup` of the fixture's installation on a
// pseudo-terminal, with the terminal the wizard tests use.
func (f *cmdFixture) setupPTY() *ptyTerm {
	f.t.Helper()
	env := append(slices.Clone(f.env), "NO_COLOR=", "TERM=xterm-256color")
	return startPTY(f.t, env, f.bin, "setup")
}

// reloadConfig reads back what the wizard saved, so that the fixture's
// helpers (answers, sandbox) see the new settings.
func (f *cmdFixture) reloadConfig() {
	f.t.Helper()
	cfg, _, err := meta.LoadConfig(f.paths.ConfigFile)
	if err != nil {
		f.t.Fatalf("the saved config: %v", err)
	}
	f.cfg = cfg
}

// wizardQuickSave walks the wizard over the fixture's config as a person
// pressing Enter would: reconfigure, quick setup, the image source at
// index src (0 prebuilt, 1 build), the configured port kept, no new user,
// save. The config is written after the last question (start or restart).
func wizardQuickSave(p *ptyTerm, port, src int) {
	p.expect("Reconfigure?")
	p.send("y")
	p.expect("Setup mode")
	p.send(keyEnter) // quick
	p.expect("✓ Setup mode: quick")
	p.expect("Image source")
	p.send(strings.Repeat(keyDown, src) + keyEnter)
	p.expect("✓ Image source: " + []string{meta.SourcePrebuilt, meta.SourceBuild}[src])
	p.expect(fmt.Sprintf("✓ Port: %d", port))
	p.expect("Add another login user?")
	p.send("n")
	p.expect("Save this configuration?")
	p.send(keyEnter)
}

// refused reports whether nothing answers HTTP on port any more.
func refused(port int) bool {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/global/health")
	if err != nil {
		return true
	}
	resp.Body.Close()
	return false
}

// TestSetupWizardStartAndRestart drives the wizard's last step against
// the testbed. With no sandbox running it asks "Start opencode-cloud
// now?": no leaves it stopped, yes runs occ start (URL printed, running).
// With the sandbox running, a new port (custom setup) asks "Config
// changed. Restart opencode-cloud to apply?": yes recreates it on the new
// port, the old one no longer answers. Then a change to nothing the
// container is made from (the image source, with the port kept) asks
// nothing and leaves the container alone.
func TestSetupWizardStartAndRestart(t *testing.T) {
	f := newCmdFixture(t, nil)
	f.importImage(meta.Provenance{Source: meta.SourcePrebuilt, ImageVersion: meta.Version})
	oldPort := f.cfg.OpencodeWebPort

	// Not running, answered no: saved, still stopped.
	p := f.setupPTY()
	wizardQuickSave(p, oldPort, 0)
	p.expect("Start opencode-cloud now?")
	p.send("n")
	p.expect("Configuration saved")
	p.expect("Start the service with: occ start")
	if code := p.wait(); code != 0 {
		t.Fatalf("setup, start answered no: exit %d; screen:\n%s", code, tail(p.screen()))
	}
	if st := f.statusJSON()["state"]; st == string(runtime.StateRunning) {
		t.Fatalf("answered no, but the sandbox is %v", st)
	}

	// Not running, answered yes: occ start runs in the same process.
	p = f.setupPTY()
	wizardQuickSave(p, oldPort, 0)
	p.expect("Start opencode-cloud now?")
	p.send("y")
	p.expect("Configuration saved")
	p.expect(fmt.Sprintf("URL:        http://127.0.0.1:%d", oldPort))
	if code := p.wait(); code != 0 {
		t.Fatalf("setup, start answered yes: exit %d; screen:\n%s", code, tail(p.screen()))
	}
	if strings.Contains(p.screen(), "Config changed") {
		t.Errorf("a stopped sandbox was offered a restart:\n%s", tail(p.screen()))
	}
	if js := f.statusJSON(); js["state"] != string(runtime.StateRunning) {
		t.Fatalf("answered yes, status: %v", js)
	}
	f.answers("started by the wizard")

	// Running, a new port: restart asked, yes recreates it there.
	newPort := rtFreePort(t)
	p = f.setupPTY()
	p.expect("Reconfigure?")
	p.send("y")
	p.expect("Setup mode")
	p.send(keyDown + keyEnter) // custom
	p.expect("Image source")
	p.send(keyEnter)
	p.expect("Web UI port")
	p.send(keyCtrlU + strconv.Itoa(newPort) + keyEnter)
	p.expect(fmt.Sprintf("✓ Port: %d", newPort))
	p.expect("Network access")
	p.send(keyEnter)
	p.expect("Persistence")
	p.send(keyEnter)
	p.expect("Add another login user?")
	p.send("n")
	p.expect("Save this configuration?")
	p.send(keyEnter)
	p.expect("Config changed. Restart opencode-cloud to apply?")
	p.send("y")
	p.expect("Configuration saved")
	p.expect(fmt.Sprintf("URL:        http://127.0.0.1:%d", newPort))
	if code := p.wait(); code != 0 {
		t.Fatalf("setup, restart answered yes: exit %d; screen:\n%s", code, tail(p.screen()))
	}
	if strings.Contains(p.screen(), "Start opencode-cloud now?") {
		t.Errorf("a running sandbox was offered a start:\n%s", tail(p.screen()))
	}
	f.reloadConfig()
	if f.cfg.OpencodeWebPort != newPort {
		t.Fatalf("saved port %d, want %d", f.cfg.OpencodeWebPort, newPort)
	}
	js := f.statusJSON()
	if js["state"] != string(runtime.StateRunning) {
		t.Fatalf("after the restart, status: %v", js)
	}
	f.answers("restarted on the new port")
	if !refused(oldPort) {
		t.Errorf("the old port %d still answers after the restart", oldPort)
	}
	before, err := f.sandbox().Status(f.ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Running, only the image source changed (not restart-marked): no
	// question, the same task keeps running.
	p = f.setupPTY()
	wizardQuickSave(p, newPort, 1)
	p.expect("The service is running; nothing it is made from changed.")
	p.expect("Configuration saved")
	if code := p.wait(); code != 0 {
		t.Fatalf("setup, nothing restart-marked changed: exit %d; screen:\n%s", code, tail(p.screen()))
	}
	if !strings.Contains(p.screen(), fmt.Sprintf("✓ Port: %d (the running sandbox's)", newPort)) {
		t.Errorf("the sandbox's own port was not kept as its own:\n%s", tail(p.screen()))
	}
	for _, q := range []string{"Config changed", "Start opencode-cloud now?", "already in use"} {
		if strings.Contains(p.screen(), q) {
			t.Errorf("nothing restart-marked changed, yet the wizard showed %q:\n%s", q, tail(p.screen()))
		}
	}
	f.reloadConfig()
	if f.cfg.ImageSource != meta.SourceBuild || f.cfg.OpencodeWebPort != newPort {
		t.Errorf("saved image_source %q port %d, want build %d", f.cfg.ImageSource, f.cfg.OpencodeWebPort, newPort)
	}
	after, err := f.sandbox().Status(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.State != runtime.StateRunning || after.Pid != before.Pid {
		t.Errorf("the sandbox was touched: %s pid %d → %s pid %d", before.State, before.Pid, after.State, after.Pid)
	}
	f.answers("left alone")
}
