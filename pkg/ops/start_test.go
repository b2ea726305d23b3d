package ops

import (
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/runtime/restart"
	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// TestSupervisedExit: the supervisor ends quietly for a stop on purpose
// or a removal, with an error (so a service manager restarts occ) for an
// exit on its own, and keeps waiting while the container runs.
func TestSupervisedExit(t *testing.T) {
	code := uint32(137)
	for _, tc := range []struct {
		name     string
		st       runtime.Status
		done     bool
		wantErr  bool
		wantSaid string
	}{
		{"running", runtime.Status{State: runtime.StateRunning}, false, false, ""},
		{"paused", runtime.Status{State: runtime.StatePaused}, false, false, ""},
		{"removed", runtime.Status{State: runtime.StateMissing}, true, false, "was removed"},
		{"stopped on purpose", runtime.Status{State: runtime.StateStopped, Labels: map[string]string{restart.ExplicitlyStoppedLabel: "true"}}, true, false, "was stopped"},
		{"exited", runtime.Status{State: runtime.StateStopped, ExitCode: &code}, true, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeReport{}
			done, err := supervisedExit(r, tc.st)
			if done != tc.done || (err != nil) != tc.wantErr {
				t.Fatalf("done %v err %v", done, err)
			}
			if err != nil && (!errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "exit code 137")) {
				t.Errorf("error %v", err)
			}
			if !strings.Contains(r.String(), tc.wantSaid) {
				t.Errorf("said %q, want %q", r.String(), tc.wantSaid)
			}
		})
	}
}

// TestFirstRunSource: off a terminal image_source decides; on one the
// answer decides and is saved to the config (without the run's overrides).
func TestFirstRunSource(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tty    bool
		source string
		choice []int
		want   ImageAction
		saved  string
	}{
		{"no terminal, prebuilt", false, meta.SourcePrebuilt, nil, ImagePull, meta.SourcePrebuilt},
		{"no terminal, build", false, meta.SourceBuild, nil, ImageBuildCached, meta.SourceBuild},
		{"enter takes the config's", true, meta.SourceBuild, nil, ImageBuildCached, meta.SourceBuild},
		{"answer build", true, meta.SourcePrebuilt, []int{2}, ImageBuildCached, meta.SourceBuild},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := meta.DefaultConfig()
			cfg.ImageSource = tc.source
			te := newTestEnv(t, cfg)
			te.prompt.tty, te.prompt.choose = tc.tty, tc.choice
			run, _ := te.LoadConfig()
			run.OpencodeWebPort = 4242 // a per-run override: never saved
			got, err := te.firstRunSource(run)
			if err != nil || got != tc.want {
				t.Fatalf("got %v %v, want %v", got, err, tc.want)
			}
			saved, _ := te.LoadConfig()
			if saved.ImageSource != tc.saved || saved.OpencodeWebPort == 4242 {
				t.Errorf("saved image_source %q port %d", saved.ImageSource, saved.OpencodeWebPort)
			}
		})
	}
}

// TestVersionAnswer: a mismatch asks on a terminal (and remembers the
// answer with update_check once), warns off one at most once an hour.
func TestVersionAnswer(t *testing.T) {
	if meta.IsDevBuild() {
		t.Log("a development build: versionCheck skips, versionAnswer is still checked")
	}
	te := newTestEnv(t, nil)
	cfg := meta.DefaultConfig()
	cfg.UpdateCheck = meta.UpdateCheckOnce
	for i := range 2 {
		a, err := te.versionAnswer(cfg, "sha256:aa", "v0.0.1")
		if err != nil || a != meta.UpdateAnswerContinue {
			t.Fatalf("no terminal: %q %v", a, err)
		}
		if n := strings.Count(te.report.String(), "warn:"); n != 1 {
			t.Fatalf("run %d: %d warnings, want 1 (at most once an hour)", i, n)
		}
	}
	te.prompt.tty, te.prompt.choose = true, []int{2}
	if a, err := te.versionAnswer(cfg, "sha256:bb", "v0.0.1"); err != nil || a != meta.UpdateAnswerRebuild {
		t.Fatalf("terminal: %q %v", a, err)
	}
	// Remembered for this digest: no second question.
	asked := len(te.prompt.asked)
	if a, err := te.versionAnswer(cfg, "sha256:bb", "v0.0.1"); err != nil || a != meta.UpdateAnswerRebuild || len(te.prompt.asked) != asked {
		t.Fatalf("remembered: %q %v, asked %d more", a, err, len(te.prompt.asked)-asked)
	}
}
