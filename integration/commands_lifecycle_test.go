//go:build integration

package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// TestCommandsLifecycle drives status, logs, stop, restart and stop --remove
// through the real binary on a running sandbox.
func TestCommandsLifecycle(t *testing.T) {
	f := newCmdFixture(t, nil)
	acquired := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	f.importImage(meta.Provenance{Source: meta.SourcePrebuilt, Registry: rtTestbed(t).registry,
		Repository: rtTestbed(t).registry + "/test/runtime-app", ImageVersion: meta.Version, AcquiredAt: acquired})
	f.startSandbox()

	// status: the §5.1 layout with provenance and security.
	r := f.mustOK("status")
	wantContains(t, "status", r.stdout,
		"State:          running\n",
		"Health:         Healthy\n",
		"Version:        "+rtOpencodeVersion+"\n",
		"Commit:         "+rtImageRevision[:7]+" (sandbox image source)\n",
		"URL:            http://127.0.0.1:",
		"Image:          "+meta.CurrentImageName+"\n",
		"Image src:      prebuilt from "+rtTestbed(t).registry+" (sha256:",
		"Acquired:       2026-11-27 20:00:00 UTC\n",
		"Image ver:      v"+meta.Version+"\n",
		"Binding:        127.0.0.1 [LOCAL ONLY]\n",
		"Auth users:     alice\n",
		"Uptime:         ",
		// The isolation in force, read from the container.
		"Seccomp:        containerd default profile\n",
		"AppArmor:       ",
		usernsLine(tbLeg(t)),
		fmt.Sprintf("Pids:           %d\n", meta.DefaultPidsLimit),
		"Memory:         ",
		"CPUs:           ",
	)
	if strings.Contains(r.stdout, "(configured)") {
		t.Errorf("status of a running sandbox shows the configured isolation, not the one in force:\n%s", r.stdout)
	}
	js := f.statusJSON()
	if sec, _ := js["security"].(map[string]any); sec == nil {
		t.Errorf("status --json: no security: %v", js)
	} else if iso, _ := sec["isolation"].(map[string]any); iso["seccomp"] != true || iso["userns"] != tbLeg(t).userns ||
		(tbLeg(t).userns && iso["rootfs"] != tbLeg(t).rootfs) || iso["pids_limit"] != float64(meta.DefaultPidsLimit) {
		t.Errorf("status --json security.isolation: %v", sec["isolation"])
	}
	if js["opencode_version"] != rtOpencodeVersion || js["sandbox_revision"] != rtImageRevision {
		t.Errorf("status --json opencode_version %v sandbox_revision %v", js["opencode_version"], js["sandbox_revision"])
	}
	if js["state"] != "running" || js["health"] != "Healthy" {
		t.Errorf("status --json: %v", js)
	}
	if src, _ := js["source"].(map[string]any); src["source"] != "prebuilt" || !strings.HasPrefix(src["manifest_digest"].(string), "sha256:") {
		t.Errorf("status --json source: %v", js["source"])
	}
	if r := f.occ("-q", "status"); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("status -q while running: %s", r)
	}

	// logs: one-shot, grep, and the flag errors.
	r = f.mustOK("logs", "--no-follow", "-n", "all")
	wantContains(t, "logs", r.stdout, "listening on 127.0.0.1:", "stderr: ready to serve")
	r = f.mustOK("logs", "--no-follow", "--grep", "stderr:")
	if strings.TrimSpace(r.stdout) != "stderr: ready to serve" {
		t.Errorf("logs --grep: %q", r.stdout)
	}
	r = f.mustOK("logs", "--no-follow", "--timestamps", "--grep", "stderr:")
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z stderr: ready to serve\n$`).MatchString(r.stdout) {
		t.Errorf("logs --timestamps: %q", r.stdout)
	}
	if r := f.occ("logs", "-n", "zero"); r.code == 0 || !strings.Contains(r.stderr, "-n/--lines") {
		t.Errorf("logs -n zero: %s", r)
	}
	if r := f.occ("logs", "-f", "--no-follow"); r.code == 0 {
		t.Errorf("logs -f --no-follow accepted: %s", r)
	}

	// Piped (not a terminal), logs without -f prints and returns.
	piped := make(chan occResult, 1)
	go func() { piped <- f.occ("logs", "-n", "1") }()
	select {
	case r := <-piped:
		if r.code != 0 || r.stdout == "" || strings.Contains(r.stderr, "Following") {
			t.Errorf("logs -n 1, piped: %s", r)
		}
	case <-time.After(time.Minute):
		t.Error("logs -n 1 with stdout a pipe did not return: it must follow only on a terminal or with -f")
	}

	// logs -f follows: a request shows up, and the stream ends with
	// "Container stopped" when the container stops.
	follow := f.command("logs", "-f", "-n", "1")
	stdout, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var ferr strings.Builder
	follow.Stderr = &ferr
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	rtGet(t, "http://127.0.0.1:"+itoa(f.cfg.OpencodeWebPort)+"/followed")
	waitLine(t, lines, "request /followed")

	// stop, idempotently.
	r = f.mustOK("stop", "-t", "5")
	wantContains(t, "stop", r.stderr, "Service stopped")
	waitLine(t, lines, "got SIGTERM, exiting")
	for range lines {
	}
	if err := follow.Wait(); err != nil {
		t.Errorf("logs (following) exited with %v: %s", err, ferr.String())
	}
	wantContains(t, "logs (following) stderr", ferr.String(), "Following logs", "Container stopped")

	r = f.mustOK("stop", "--json")
	wantContains(t, "second stop", r.stderr, "Service is already stopped")
	var stopped struct {
		WasRunning *bool  `json:"was_running"`
		Message    string `json:"message"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &stopped); err != nil || stopped.WasRunning == nil || *stopped.WasRunning || stopped.Message != "Service is already stopped" {
		t.Errorf("stop --json: %v %q", err, r.stdout)
	}
	if r := f.occ("-q", "status"); r.code != 3 || r.stdout != "" {
		t.Errorf("status -q while stopped: %s", r)
	}
	r = f.mustOK("status")
	wantContains(t, "status (stopped)", r.stdout, "State:          stopped\n", "Last run:       ", "Run 'occ start' to start the service.")

	// restart brings it back and waits for readiness.
	r = f.mustOK("restart")
	wantContains(t, "restart", r.stdout, "URL:        http://127.0.0.1:", "Container:  "+meta.ContainerName)
	if got := rtGet(t, "http://127.0.0.1:"+itoa(f.cfg.OpencodeWebPort)+"/again"); !strings.Contains(got, "hello from /again") {
		t.Errorf("after restart: %q", got)
	}
	// A changed port means recreating; without a terminal that needs --yes.
	f.cfg.OpencodeWebPort = rtFreePort(t)
	f.saveConfig()
	if r := f.occ("restart"); r.code == 0 || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("restart with a changed port and no --yes: %s", r)
	}
	f.mustOK("restart", "--yes")
	if got := rtGet(t, "http://127.0.0.1:"+itoa(f.cfg.OpencodeWebPort)+"/moved"); !strings.Contains(got, "hello from /moved") {
		t.Errorf("after recreate: %q", got)
	}
	// So does a changed isolation key: the new limit is in force after it.
	f.mustOK("config", "set", "pids_limit", "512")
	if r := f.occ("restart"); r.code == 0 || !strings.Contains(r.stderr, "isolation") {
		t.Errorf("restart with a changed pids_limit and no --yes: %s", r)
	}
	r = f.mustOK("restart", "--yes", "--json")
	var restarted struct {
		URL       string `json:"url"`
		Recreated bool   `json:"recreated"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &restarted); err != nil || !restarted.Recreated || !strings.HasPrefix(restarted.URL, "http://127.0.0.1:") {
		t.Errorf("restart --yes --json: %v %q", err, r.stdout)
	}
	r = f.mustOK("status")
	wantContains(t, "status after the pids_limit change", r.stdout, "Pids:           512\n")

	// stop --remove, then everything reports the container gone.
	r = f.mustOK("stop", "--remove")
	wantContains(t, "stop --remove", r.stderr, "Service stopped and container removed")
	r = f.mustOK("stop", "--remove")
	wantContains(t, "stop --remove again", r.stderr, "Service container is already removed")
	r = f.mustOK("status")
	wantContains(t, "status (missing)", r.stdout, "No service found.")
	if r := f.occ("logs", "--no-follow"); r.code == 0 || !strings.Contains(r.stderr, "No container found. Run 'occ start' first.") {
		t.Errorf("logs without a container: %s", r)
	}
	if r := f.occ("restart"); r.code == 0 || !strings.Contains(r.stderr, "occ start") {
		t.Errorf("restart without a container: %s", r)
	}
	// Under --json the failure is the error object on stdout, same exit code.
	r = f.occ("restart", "--json")
	var failed struct {
		Error struct {
			Code     string `json:"code"`
			ExitCode int    `json:"exit_code"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &failed); err != nil || r.code != 1 || failed.Error.Code != "not_found" || failed.Error.ExitCode != 1 {
		t.Errorf("restart --json without a container: %v %s", err, r)
	}
}

// TestCommandsStatusBuiltFromSource shows a built image's provenance.
func TestCommandsStatusBuiltFromSource(t *testing.T) {
	f := newCmdFixture(t, func(c *meta.Config) { c.BindAddress = "0.0.0.0"; c.Users = nil })
	f.importImage(meta.Provenance{Source: meta.SourceBuild, ImageVersion: "0.0.1-other",
		Build: &meta.BuildInfo{BuildkitVersion: "v0.34.2", Worker: "containerd", NoCache: true}})
	f.startSandbox()
	r := f.mustOK("status")
	wantContains(t, "status", r.stdout,
		"Image src:      built from source (BuildKit v0.34.2, full)\n",
		"Image ver:      v0.0.1-other (differs from CLI)\n",
		"Binding:        0.0.0.0 [NETWORK EXPOSED]\n",
		"Auth users:     None configured\n",
		"Warning: Network exposed without authentication!",
	)
}

func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended before %q", want)
			}
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no line with %q within 30s", want)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// usernsLine is status's user namespace line on the containerd leg: the
// rootfs idmapped (2.x) or chowned (1.7), or off (1.6: runc 1.1 only).
func usernsLine(leg containerdLeg) string {
	if !leg.userns {
		return "User ns:        off"
	}
	how := map[string]string{"idmapped": "idmapped", "chowned": "a chowned copy"}[leg.rootfs]
	return fmt.Sprintf("User ns:        on: ids 0-65535 are host %d-%d (rootfs %s; volumes owned in range)\n",
		meta.DefaultUserNSBase, meta.DefaultUserNSBase+65535, how)
}
