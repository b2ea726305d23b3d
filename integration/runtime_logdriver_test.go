//go:build integration

package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/runtime/restart"

	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// The sandbox's output goes through occ's log driver: timestamped lines,
// followable, readable after the container stopped, and with --timestamps.
func TestRuntimeLogDriver(t *testing.T) {
	bin := testutil.OccBinary(t)
	f := newRTFixture(t, nil)
	sb, err := runtime.NewSandbox(f.client, runtime.SpecOptions{
		Config: f.cfg, Paths: f.paths, Image: rtLocalImage, Name: f.name, RunDir: f.runDir, Network: f.netOpts, LogDriver: bin,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.sb = sb
	f.start()

	c, err := ctrd(t, f.client).LoadContainer(f.client.WithNamespace(f.ctx), f.name)
	if err != nil {
		t.Fatal(err)
	}
	labels, _ := c.Labels(f.client.WithNamespace(f.ctx))
	if labels[meta.LabelContainerLogFormat] != runtime.LogFormatStamped {
		t.Fatalf("log format label = %q", labels[meta.LabelContainerLogFormat])
	}
	logPath := labels[meta.LabelContainerLogPath]
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	stamped := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT[0-9:.]+Z (stdout|stderr) `)
	if !stamped.Match(raw) || !strings.Contains(string(raw), " stderr stderr: ready to serve") {
		t.Fatalf("the driver did not write stamped lines to %s:\n%s", logPath, raw)
	}

	marker := "/driver-" + time.Now().Format("150405.000")
	rtGet(t, f.url(marker))
	var plain, withTimes bytes.Buffer
	rtEventually(t, "the request to reach the log", 10*time.Second, func() bool {
		plain.Reset()
		return sb.Logs(f.ctx, runtime.LogOptions{}, &plain) == nil && strings.Contains(plain.String(), "request "+marker)
	})
	if stamped.MatchString(plain.String()) || !strings.Contains(plain.String(), "listening on 0.0.0.0:3000\n") {
		t.Fatalf("plain logs still carry stamps or lack output:\n%s", plain.String())
	}
	if err := sb.Logs(f.ctx, runtime.LogOptions{Timestamps: true, Tail: 1}, &withTimes); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT[0-9:.]+Z request ` + regexp.QuoteMeta(marker) + "\n$").MatchString(withTimes.String()) {
		t.Fatalf("--timestamps tail 1 = %q", withTimes.String())
	}

	if _, err := sb.Stop(f.ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	var after bytes.Buffer
	if err := sb.Logs(f.ctx, runtime.LogOptions{}, &after); err != nil || !strings.Contains(after.String(), "got SIGTERM, exiting") {
		t.Fatalf("logs after stop: %v\n%s", err, after.String())
	}
}

// TestRuntimeLogDriverSurvivesMovedOcc: containerd's shim and restart
// monitor run, as root, the log driver the restart label names. That was
// the occ executable itself: its owner got root, and moving or upgrading
// occ broke restarts. It is now a read-only copy under the data
// directory: with the executable gone, the monitor still restarts the
// crashed task and the log still gets its lines.
func TestRuntimeLogDriverSurvivesMovedOcc(t *testing.T) {
	data, err := os.ReadFile(testutil.OccBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "occ")
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	f := newRTFixture(t, nil)
	if !f.client.HasRestartMonitor(f.ctx) {
		t.Skip("containerd has no restart monitor plugin")
	}
	sb, err := runtime.NewSandbox(f.client, runtime.SpecOptions{
		Config: f.cfg, Paths: f.paths, Image: rtLocalImage, Name: f.name, RunDir: f.runDir, Network: f.netOpts, LogDriver: exe,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.sb = sb
	f.start()
	ctx := f.client.WithNamespace(f.ctx)
	c, err := ctrd(t, f.client).LoadContainer(ctx, f.name)
	if err != nil {
		t.Fatal(err)
	}
	labels, _ := c.Labels(ctx)
	uri := labels[restart.LogURILabel]
	binDir := filepath.Join(f.paths.DataDir, "bin") + "/"
	if !strings.HasPrefix(uri, "binary://"+binDir) || strings.Contains(uri, exe) {
		t.Fatalf("restart log URI %q does not name the copy under %s", uri, binDir)
	}
	copyPath := strings.TrimPrefix(strings.SplitN(uri, "?", 2)[0], "binary://")
	if fi, err := os.Stat(copyPath); err != nil || fi.Mode().Perm() != 0o555 {
		t.Fatalf("copy %s: %v %v", copyPath, fi, err)
	}

	if err := os.Remove(exe); err != nil { // occ moved or upgraded
		t.Fatal(err)
	}
	st, err := sb.Status(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(int(st.Pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rtEventually(t, "the restart monitor to restart the task", 60*time.Second, func() bool {
		s, err := sb.Status(f.ctx)
		return err == nil && s.State == runtime.StateRunning && s.Pid != st.Pid
	})
	if err := sb.WaitReady(f.ctx, runtime.ReadyOptions{}); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	marker := "/moved-" + time.Now().Format("150405.000")
	rtGet(t, f.url(marker))
	var out bytes.Buffer
	rtEventually(t, "the request to reach the log after the restart", 10*time.Second, func() bool {
		out.Reset()
		return sb.Logs(f.ctx, runtime.LogOptions{}, &out) == nil && strings.Contains(out.String(), "request "+marker)
	})
}
