package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	base := Options{Mode: ModeUser, Executable: "/usr/local/bin/occ", ConfigFile: "/home/a/.config/opencode-cloud/config.json",
		AutoRestart: true, RestartDelay: 5, RestartRetries: 3}
	tests := []struct {
		name   string
		mutate func(*Options)
		want   []string
		absent []string
	}{
		{"user", nil, []string{
			"[Unit]\nDescription=opencode-cloud container service\nAfter=containerd.service network-online.target\n",
			"StartLimitIntervalSec=30\nStartLimitBurst=3\n",
			"[Service]\nType=notify\nNotifyAccess=main\nTimeoutStartSec=infinity\nWatchdogSec=60\n",
			"ExecStart=/usr/local/bin/occ --config /home/a/.config/opencode-cloud/config.json start --no-daemon\n",
			"ExecStop=/usr/local/bin/occ --config /home/a/.config/opencode-cloud/config.json stop\n",
			"Restart=on-failure\nRestartSec=5s\nTimeoutStopSec=45\n",
			"[Install]\nWantedBy=default.target\n",
		}, []string{"Wants=containerd.service", "User=", "Requires="}},
		{"system with user and env", func(o *Options) {
			o.Mode, o.User, o.Env = ModeSystem, "alice", []string{"XDG_DATA_HOME=/home/alice/.local/share"}
			o.StopTimeout = 60
		}, []string{
			"Wants=containerd.service network-online.target\n", "User=alice\n",
			"Environment=XDG_DATA_HOME=/home/alice/.local/share\n", "TimeoutStopSec=75\n", "WantedBy=multi-user.target\n",
		}, nil},
		{"user mode ignores User", func(o *Options) { o.User = "bob" }, nil, []string{"User="}},
		{"no auto restart", func(o *Options) { o.AutoRestart = false }, []string{"Restart=no\n"}, []string{"Restart=on-failure"}},
		{"no start limit without retries", func(o *Options) { o.RestartRetries = 0 }, nil, []string{"StartLimit"}},
		{"quoting", func(o *Options) {
			o.Executable = "/opt/my apps/occ"
			o.ConfigFile = "/cfg/100%/$HOME.json"
			o.Env = []string{`NAME=a "b"`}
		}, []string{
			`ExecStart="/opt/my apps/occ" --config /cfg/100%%/$$HOME.json start --no-daemon` + "\n",
			`Environment="NAME=a \"b\""` + "\n",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			if tt.mutate != nil {
				tt.mutate(&o)
			}
			got, err := Render(o)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(got, a) {
					t.Errorf("unexpected %q in:\n%s", a, got)
				}
			}
		})
	}
}

func TestRenderRejects(t *testing.T) {
	good := Options{Mode: ModeUser, Executable: "/bin/occ"}
	tests := []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"mode", func(o *Options) { o.Mode = "boot" }, "boot_mode must be user or system"},
		{"relative exe", func(o *Options) { o.Executable = "occ" }, "not absolute"},
		{"relative config", func(o *Options) { o.ConfigFile = "c.json" }, "not absolute"},
		{"negative", func(o *Options) { o.RestartDelay = -1 }, "negative"},
		{"env", func(o *Options) { o.Env = []string{"NOVALUE"} }, "KEY=value"},
	}
	for _, tt := range tests {
		o := good
		tt.mutate(&o)
		if _, err := Render(o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestInstallerFiles(t *testing.T) {
	dir := t.TempDir()
	var calls []string
	in := &Installer{UserDir: filepath.Join(dir, "user"), SystemDir: filepath.Join(dir, "system"),
		Systemctl: func(_ context.Context, mode string, args ...string) error {
			calls = append(calls, mode+": "+strings.Join(args, " "))
			return nil
		}}
	for _, mode := range []string{ModeUser, ModeSystem} {
		if ok, err := in.Installed(mode); err != nil || ok {
			t.Fatalf("%s: installed before install: %v %v", mode, ok, err)
		}
		p, err := in.WriteUnit(mode, "unit "+mode+"\n")
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, mode, Name+".service"); p != want {
			t.Errorf("path %s, want %s", p, want)
		}
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v %v", p, st.Mode(), err)
		}
		if cur, _ := in.Current(mode); cur != "unit "+mode+"\n" {
			t.Errorf("current: %q", cur)
		}
		if ok, _ := in.Installed(mode); !ok {
			t.Errorf("%s: not installed after write", mode)
		}
		if entries, _ := os.ReadDir(filepath.Dir(p)); len(entries) != 1 {
			t.Errorf("temp files left: %v", entries)
		}
		if _, removed, err := in.RemoveUnit(mode); err != nil || !removed {
			t.Errorf("remove: %v %v", removed, err)
		}
		if _, removed, err := in.RemoveUnit(mode); err != nil || removed {
			t.Errorf("second remove: %v %v", removed, err)
		}
	}
	if err := in.Enable(context.Background(), ModeUser); err != nil {
		t.Fatal(err)
	}
	want := "user: daemon-reload,user: enable opencode-cloud,user: restart opencode-cloud"
	if got := strings.Join(calls, ","); got != want {
		t.Errorf("systemctl calls %q, want %q", got, want)
	}
}

func TestUserUnitPathFollowsXDG(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/x/cfg")
	p, err := (&Installer{}).UnitPath(ModeUser)
	if err != nil || p != "/x/cfg/systemd/user/opencode-cloud.service" {
		t.Errorf("got %q %v", p, err)
	}
	if p, _ := (&Installer{}).UnitPath(ModeSystem); p != "/etc/systemd/system/opencode-cloud.service" {
		t.Errorf("system: %q", p)
	}
}

func TestSystemdAbsentIsClear(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here")
	}
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	err := (&Installer{}).Enable(context.Background(), ModeUser)
	if !errors.Is(err, ErrNoSystemd) || !strings.Contains(err.Error(), "occ start --no-daemon") {
		t.Errorf("got %v", err)
	}
}

// TestRenderHostileValues: restart settings that overflowed
// StartLimitIntervalSec, a service user with a newline (User= was written
// unquoted, so "x\nExecStartPre=…" added a directive) and values with
// line breaks are refused or escaped: every directive the unit has is one
// occ wrote.
func TestRenderHostileValues(t *testing.T) {
	good := Options{Mode: ModeSystem, Executable: "/usr/local/bin/occ"}
	for _, tc := range []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"delay overflow", func(o *Options) { o.RestartDelay, o.RestartRetries = 1<<62, 3 }, "restart_delay must be at most"},
		{"retries overflow", func(o *Options) { o.RestartDelay, o.RestartRetries = 5, 1<<62 }, "restart_retries must be at most"},
		{"user newline", func(o *Options) { o.User = "alice\nExecStartPre=/bin/sh -c id" }, "not a user name"},
		{"user space", func(o *Options) { o.User = "alice bob" }, "not a user name"},
		{"exe newline", func(o *Options) { o.Executable = "/opt/occ\nExecStartPre=/bin/id" }, "line break"},
		{"config newline", func(o *Options) { o.ConfigFile = "/etc/occ\n[Install]" }, "line break"},
	} {
		o := good
		tc.mutate(&o)
		if _, err := Render(o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	o := good
	o.User = "opencode"
	o.Env = []string{"XDG_DATA_HOME=/data/a\nExecStartPre=/bin/id", "B=tab\there\x01"}
	o.RestartDelay, o.RestartRetries = MaxRestartDelay, MaxRestartRetries
	unit, err := Render(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(unit, "\n") {
		if strings.HasPrefix(line, "ExecStartPre") {
			t.Errorf("a value added a directive:\n%s", unit)
		}
	}
	for _, want := range []string{`Environment="XDG_DATA_HOME=/data/a\nExecStartPre=/bin/id"`, `Environment="B=tab\there\x01"`, "User=opencode", "StartLimitIntervalSec=172800000"} {
		if !strings.Contains(unit, want) {
			t.Errorf("missing %s in:\n%s", want, unit)
		}
	}
}
