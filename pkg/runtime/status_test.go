package runtime

import (
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/runtime/restart"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/opencode-cloud/occ/pkg/meta"
)

func TestStatusFromLabels(t *testing.T) {
	exited := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name     string
		labels   map[string]string
		state    State
		exitCode int // -1: none
		policy   string
		count    int
	}{
		{"created", map[string]string{meta.LabelContainerPublished: "127.0.0.1:3000"}, StateCreated, -1, "", 0},
		{"stopped", map[string]string{meta.LabelContainerExitCode: "137", meta.LabelContainerExitedAt: exited.Format(time.RFC3339Nano)}, StateStopped, 137, "", 0},
		{"bad exit code", map[string]string{meta.LabelContainerExitCode: "x"}, StateCreated, -1, "", 0},
		{"restart monitor", map[string]string{restart.StatusLabel: "running", restart.PolicyLabel: "on-failure", restart.CountLabel: "2"}, StateCreated, -1, "on-failure", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := statusFromLabels("img", tt.labels)
			if st.State != tt.state || st.Image != "img" || st.RestartPolicy != tt.policy || st.RestartCount != tt.count {
				t.Errorf("got %+v", st)
			}
			if (st.ExitCode == nil) != (tt.exitCode < 0) || (st.ExitCode != nil && int(*st.ExitCode) != tt.exitCode) {
				t.Errorf("exit code %v, want %d", st.ExitCode, tt.exitCode)
			}
			if tt.exitCode == 137 && !st.ExitedAt.Equal(exited) {
				t.Errorf("exited at %s", st.ExitedAt)
			}
		})
	}
}

func TestApplyTask(t *testing.T) {
	started := time.Now().Add(-time.Hour).UTC()
	labels := map[string]string{meta.LabelContainerStartedAt: started.Format(time.RFC3339Nano), meta.LabelContainerExitCode: "1"}
	tests := []struct {
		name   string
		ts     containerd.Status
		state  State
		pid    uint32
		exit   bool
		uptime bool
	}{
		{"running", containerd.Status{Status: containerd.Running}, StateRunning, 1 << 30, false, true},
		{"paused", containerd.Status{Status: containerd.Paused}, StatePaused, 1 << 30, true, true},
		{"stopped", containerd.Status{Status: containerd.Stopped, ExitStatus: 3}, StateStopped, 0, true, false},
		{"created", containerd.Status{Status: containerd.Created}, StateCreated, 1 << 30, true, false},
		{"unknown", containerd.Status{Status: "odd"}, StateUnknown, 1 << 30, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := statusFromLabels("img", labels)
			st.applyTask(tt.ts, 1<<30) // no such process: the start label is used
			if st.State != tt.state || st.Pid != tt.pid || (st.ExitCode != nil) != tt.exit || (st.Uptime > 0) != tt.uptime {
				t.Errorf("got %+v", st)
			}
			if tt.uptime && !st.StartedAt.Equal(started) {
				t.Errorf("started at %s, want %s", st.StartedAt, started)
			}
		})
	}
}

func TestExecProcess(t *testing.T) {
	base := &specs.Process{Args: []string{"/init"}, Terminal: true, Env: []string{"PATH=/bin", "A=1"}, Cwd: "/",
		Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN"}}}
	tests := []struct {
		name    string
		opts    ExecOptions
		noCaps  bool
		cwd     string
		envHasA string
	}{
		{"root", ExecOptions{Args: []string{"id"}}, false, "/", "A=1"},
		{"user", ExecOptions{Args: []string{"id"}, UID: 1000, GID: 1000, Cwd: "/home/u", Env: []string{"A=2"}}, true, "/home/u", "A=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := execProcess(base, tt.opts)
			if p.Terminal || p.Args[0] != "id" || p.User.UID != tt.opts.UID || p.Cwd != tt.cwd {
				t.Errorf("got %+v", p)
			}
			if got := len(p.Capabilities.Bounding) == 0; got != tt.noCaps {
				t.Errorf("capabilities %+v", p.Capabilities)
			}
			found := false
			for _, e := range p.Env {
				found = found || e == tt.envHasA
			}
			if !found {
				t.Errorf("env %v lacks %s", p.Env, tt.envHasA)
			}
		})
	}
	if base.Args[0] != "/init" || !base.Terminal {
		t.Error("execProcess changed the container's process")
	}
}

func TestExplicitlyStopped(t *testing.T) {
	tests := []struct {
		labels map[string]string
		want   bool
	}{
		{restartStoppedLabels(), true},
		{restartStoppingLabels(), true},
		{restartRunningLabels("file:///log"), false},
		{nil, false},
	}
	for i, tt := range tests {
		if got := (Status{Labels: tt.labels}).ExplicitlyStopped(); got != tt.want {
			t.Errorf("%d: %v, want %v", i, got, tt.want)
		}
	}
}
