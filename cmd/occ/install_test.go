package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/pkg/service"
)

// fakeSystemd makes the installer's systemctl step fail as on a machine
// without systemd (or succeed, recording the calls, when up is set).
func fakeSystemd(t *testing.T, up bool) *[]string {
	t.Helper()
	var calls []string
	old := newInstaller
	newInstaller = func() *service.Installer {
		return &service.Installer{Systemctl: func(_ context.Context, mode string, args ...string) error {
			calls = append(calls, mode+" "+strings.Join(args, " "))
			if !up {
				return fmt.Errorf("%w (test)", service.ErrNoSystemd)
			}
			return nil
		}}
	}
	t.Cleanup(func() { newInstaller = old })
	return &calls
}

func TestInstallUninstall(t *testing.T) {
	cfgFile := occEnv(t)
	fakeSystemd(t, false)
	unit := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "systemd", "user", "opencode-cloud.service")
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)

	steps := []struct {
		args     []string
		wantCode int
		wantOut  []string
		wantErr  []string
		exists   bool
	}{
		{args: []string{"uninstall"}, wantErr: []string{"Service not installed."}},
		{args: []string{"install", "--dry-run"}, wantErr: []string{"Would install service at: " + unit},
			wantOut: []string{"ExecStart=" + exe + " --config " + cfgFile + " start --no-daemon\n", "ExecStop=" + exe + " --config " + cfgFile + " stop\n",
				"After=containerd.service", "Restart=on-failure\nRestartSec=5s\n", "StartLimitBurst=3\n", "WantedBy=default.target\n",
				"Environment=XDG_DATA_HOME=" + os.Getenv("XDG_DATA_HOME") + "\n"}},
		{args: []string{"install"}, wantCode: 1, wantErr: []string{"wrote " + unit, "systemd is not running", "systemctl --user daemon-reload && systemctl --user enable --now opencode-cloud"}, exists: true},
		{args: []string{"install", "--dry-run"}, wantErr: []string{"Would reinstall service at: " + unit}, exists: true},
		{args: []string{"install"}, wantCode: 1, wantErr: []string{"Service already installed. Reinstall?", "--force"}, exists: true},
		{args: []string{"install", "--force"}, wantCode: 1, wantErr: []string{"systemd is not running"}, exists: true},
		{args: []string{"uninstall", "--dry-run"}, wantErr: []string{"Would remove service at: " + unit}, exists: true},
		{args: []string{"uninstall"}, wantCode: 1, wantErr: []string{"--force"}, exists: true},
		{args: []string{"uninstall", "--force"}, wantOut: []string{"Removed: " + unit, "Files retained"}, wantErr: []string{"removing the unit file only"}},
		{args: []string{"uninstall"}, wantErr: []string{"Service not installed."}},
	}
	for _, s := range steps {
		code, out, errOut := occ(t, "", s.args...)
		if s.wantCode >= 0 && code != s.wantCode {
			t.Errorf("occ %v: exit %d, want %d\nstdout: %s\nstderr: %s", s.args, code, s.wantCode, out, errOut)
		}
		for _, w := range s.wantOut {
			if !strings.Contains(out, w) {
				t.Errorf("occ %v: stdout lacks %q:\n%s", s.args, w, out)
			}
		}
		for _, w := range s.wantErr {
			if !strings.Contains(errOut, w) {
				t.Errorf("occ %v: stderr lacks %q:\n%s", s.args, w, errOut)
			}
		}
		if _, err := os.Stat(unit); (err == nil) != s.exists {
			t.Errorf("after occ %v: unit exists=%v, want %v", s.args, err == nil, s.exists)
		}
	}
}

func TestInstallEnablesWithSystemd(t *testing.T) {
	occEnv(t)
	calls := fakeSystemd(t, true)
	code, out, errOut := occ(t, "", "install")
	if code != 0 {
		t.Fatalf("install: %d %s %s", code, out, errOut)
	}
	if got := strings.Join(*calls, ","); got != "user daemon-reload,user enable opencode-cloud,user restart opencode-cloud" {
		t.Errorf("systemctl calls: %s", got)
	}
	if !strings.Contains(out, "The service will start automatically on login.") {
		t.Errorf("install output: %s", out)
	}
	*calls = nil
	if code, out, errOut := occ(t, "", "uninstall", "--force"); code != 0 {
		t.Fatalf("uninstall: %d %s %s", code, out, errOut)
	}
	if got := strings.Join(*calls, ","); got != "user stop opencode-cloud,user disable opencode-cloud,user daemon-reload" {
		t.Errorf("systemctl calls: %s", got)
	}
}

func TestInstallRejectsBadBootMode(t *testing.T) {
	cfgFile := occEnv(t)
	fakeSystemd(t, true)
	if err := os.MkdirAll(filepath.Dir(cfgFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, []byte(`{"version":1,"boot_mode":"sometimes"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := occ(t, "", "install", "--dry-run")
	if code == 0 || !strings.Contains(errOut, "boot_mode") {
		t.Errorf("bad boot_mode: %d %s", code, errOut)
	}
}
