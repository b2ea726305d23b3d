//go:build integration

package integration

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// TestCommandsStart drives `occ start` through the real binary: refusals
// first (conflicting flags, no user), then a first start that pulls from
// the testbed registry, idempotence, the running-image-change gate, a
// per-run port, and --no-daemon supervision.
func TestCommandsStart(t *testing.T) {
	e := rtTestbed(t)
	rtAppImage(t, e) // published at test/runtime-app:latest
	f := newCmdFixture(t, func(c *meta.Config) { c.Users = nil })
	hasImage := func() bool {
		_, err := f.client.ImageService().Get(f.client.WithNamespace(f.ctx), meta.CurrentImageName)
		if err != nil && !errdefs.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}

	r := f.occ("start", "--pull-sandbox-image", "--full-rebuild-sandbox-image")
	if r.code == 0 || !strings.Contains(r.stderr, "Only one of --pull-sandbox-image, --cached-rebuild-sandbox-image, or --full-rebuild-sandbox-image can be specified") {
		t.Errorf("conflicting image flags: %s", r)
	}
	r = f.occ("start")
	if r.code == 0 || !strings.Contains(r.stderr, "Security not configured") || !strings.Contains(r.stderr, "occ user add") {
		t.Errorf("start without a user: %s", r)
	}
	if hasImage() {
		t.Error("the image was pulled although the start was refused")
	}

	// First start: no image, no terminal: image_source (prebuilt) decides.
	f.cfg.Users = []string{"alice"}
	f.saveConfig()
	r = f.mustOK("start")
	wantContains(t, "first start", r.stderr, "image_source in the config says prebuilt", "Pulling "+e.registry+"/test/runtime-app:latest", "Service started")
	wantContains(t, "first start", r.stdout, "URL:        http://127.0.0.1:", "Container:  "+meta.ContainerName,
		"Port:       "+itoa(f.cfg.OpencodeWebPort)+" (host network)\n", "Security:   [LOCAL ONLY] 127.0.0.1, this machine only\n",
		"Auth:       login required (1 user; occ user list)\n", "Open in browser: occ start --open (or http://localhost:"+itoa(f.cfg.OpencodeWebPort)+"/)\n")
	url := "http://127.0.0.1:" + itoa(f.cfg.OpencodeWebPort)
	if got := rtGet(t, url+"/global/health"); !strings.Contains(got, "healthy") {
		t.Errorf("health: %q", got)
	}
	r = f.mustOK("status")
	wantContains(t, "status after start", r.stdout, "Image src:      prebuilt from "+e.registry+" (sha256:", "State:          running")

	r = f.mustOK("start")
	wantContains(t, "second start", r.stderr, "Service is already running")

	// Changing the image of a running container needs --yes off a terminal.
	r = f.occ("start", "--pull-sandbox-image")
	if r.code == 0 || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("image change while running without --yes: %s", r)
	}
	r = f.mustOK("start", "--pull-sandbox-image", "--yes")
	wantContains(t, "pull again", r.stderr, "is up to date")

	// -p is for this run only: the container is recreated on the new port,
	// the config keeps its port.
	port := rtFreePort(t)
	r = f.mustOK("start", "-p", itoa(port), "--yes")
	wantContains(t, "start -p", r.stdout, "URL:        http://127.0.0.1:"+itoa(port)+"/")
	rtGet(t, "http://127.0.0.1:"+itoa(port)+"/moved")
	if cfg, _, err := meta.LoadConfig(f.paths.ConfigFile); err != nil || cfg.OpencodeWebPort != f.cfg.OpencodeWebPort {
		t.Errorf("start -p changed the config: %v %v", cfg.OpencodeWebPort, err)
	}
	f.mustOK("stop")

	// --no-daemon supervises: `occ stop` from elsewhere ends it cleanly...
	sup := f.command("start", "--no-daemon", "--yes")
	var supErr bytes.Buffer
	sup.Stderr = &supErr
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	rtEventually(t, "the supervised service answers", 60*time.Second, func() bool {
		return f.occ("-q", "status").code == 0
	})
	f.mustOK("stop")
	if err := waitExit(sup, 30*time.Second); err != nil {
		t.Errorf("start --no-daemon after occ stop: %v\n%s", err, supErr.String())
	}
	wantContains(t, "supervisor", supErr.String(), "Supervising the container", "The service was stopped.")

	// ...and SIGTERM stops the container before exiting.
	sup = f.command("start", "--no-daemon")
	supErr.Reset()
	sup.Stderr = &supErr
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	rtEventually(t, "the supervised service answers", 60*time.Second, func() bool {
		return strings.Contains(supErr.String(), "Supervising the container")
	})
	if err := sup.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(sup, 45*time.Second); err != nil {
		t.Errorf("start --no-daemon after SIGTERM: %v\n%s", err, supErr.String())
	}
	if r := f.occ("-q", "status"); r.code != 3 {
		t.Errorf("the container still runs after the supervisor's SIGTERM: %s", r)
	}
}

// TestCommandsStartPullFailure: off a terminal a failed pull names the
// build flag and the config change, and nothing is created.
func TestCommandsStartPullFailure(t *testing.T) {
	f := newCmdFixture(t, func(c *meta.Config) { c.ImageRepositories = []string{"127.0.0.1:1/nothing/here"} })
	r := f.occ("start")
	if r.code == 0 {
		t.Fatalf("start with an unreachable registry succeeded: %s", r)
	}
	wantContains(t, "pull failure", r.stderr, "occ start --cached-rebuild-sandbox-image", "occ config set image_source build")
	if ok, err := f.sandbox().Exists(f.ctx); err != nil || ok {
		t.Errorf("container exists after a failed pull: %v %v", ok, err)
	}

	// image_source build with BuildKit missing says so.
	f.cfg.ImageSource = meta.SourceBuild
	f.cfg.BuildkitAddr = "unix:///nonexistent/occ-test/buildkitd.sock"
	f.saveConfig()
	r = f.occ("start")
	if r.code == 0 || !strings.Contains(r.stderr, "image_source in the config says build") || !strings.Contains(r.stderr, "cannot reach BuildKit") {
		t.Errorf("start with image_source build and no BuildKit: %s", r)
	}
}

func waitExit(cmd interface{ Wait() error }, within time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		return os.ErrDeadlineExceeded
	}
}

// TestCommandsStartRefusesOldRunc: with only Debian 12's runc 1.1.5 in
// reach (it starts a container in a user namespace but cannot exec into
// it), occ start refuses before creating anything and says both ways out;
// occ doctor fails the user namespace check; with userns false the
// sandbox starts and occ status says the user namespace is off.
func TestCommandsStartRefusesOldRunc(t *testing.T) {
	if out, err := exec.Command("/usr/sbin/runc", "--version").Output(); err != nil || !strings.Contains(string(out), "runc version 1.1.") {
		t.Skipf("needs Debian 12's runc 1.1 at /usr/sbin/runc (hack/testbed installs it): %v %s", err, out)
	}
	f := newCmdFixture(t, func(c *meta.Config) { c.UserNS = true }) // also on the containerd 1.6 leg
	f.importImage(meta.Provenance{Source: meta.SourcePrebuilt, ImageVersion: meta.Version})
	var env []string
	for _, kv := range f.env {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	f.env = append(env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin") // not the testbed's runc 1.5.3
	r := f.occ("start", "--no-update-check")
	if r.code == 0 {
		t.Fatalf("start with runc 1.1.5 only: %s", r)
	}
	wantContains(t, "start with runc 1.1.5", r.stderr, "needs runc >= 1.2", "/usr/sbin/runc is 1.1.", "occ config set userns false")
	if ok, err := f.sandbox().Exists(f.ctx); err != nil || ok {
		t.Errorf("the refused start left a container: %v %v", ok, err)
	}
	r = f.occ("doctor")
	wantContains(t, "doctor with runc 1.1.5", r.stdout, "[FAIL] user namespace", "needs runc >= 1.2")

	f.mustOK("config", "set", "userns", "false")
	f.mustOK("start", "--no-update-check")
	r = f.mustOK("status")
	wantContains(t, "status without a user namespace", r.stdout, "User ns:        off", "Seccomp:        containerd default profile\n")
	f.mustOK("stop", "--remove")
}
