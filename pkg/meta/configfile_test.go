package meta

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

// TestLoadConfigSpecialFiles: --config on a FIFO used to block forever and
// on /dev/zero to read until memory ran out. Only regular files are read,
// and at most MaxConfigSize of them.
func TestLoadConfigSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, []byte("{"+strings.Repeat(" ", MaxConfigSize)+"}"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{fifo, "named pipe"},
		{"/dev/zero", "character device"},
		{"/dev/null", "character device"},
		{dir, "directory"},
		{big, "at most"},
	} {
		done := make(chan error, 1)
		go func() { _, _, err := LoadConfig(tc.path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errdefs.IsInvalidArgument(err) {
				t.Errorf("%s: want an invalid-argument error saying %q, got %v", tc.path, tc.want, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: LoadConfig still blocked after 5s", tc.path)
		}
	}
	// The same for a save: a FIFO is not replaced, nor does the backup hang.
	done := make(chan error, 1)
	go func() { done <- SaveConfig(fifo, DefaultConfig()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("SaveConfig replaced a FIFO")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SaveConfig on a FIFO still blocked after 5s")
	}
}

// TestSaveConfigThroughSymlink: a config that is a symlink (a dotfiles
// checkout) stays a link; the file it points to gets the new content.
func TestSaveConfigThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "dotfiles", "occ.json")
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte(`{"image_tag":"v1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "config.json")
	if err := os.Symlink("dotfiles/occ.json", link); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := LoadConfig(link)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ImageTag = "v2"
	if err := SaveConfig(link, cfg); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(link)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("config.json is no longer a symlink: %v %v", fi.Mode(), err)
	}
	got, _, err := LoadConfig(target)
	if err != nil || got.ImageTag != "v2" {
		t.Fatalf("target not updated: %+v %v", got, err)
	}
	bak, err := os.ReadFile(link + ".bak")
	if err != nil || !strings.Contains(string(bak), "v1") {
		t.Fatalf("backup %q %v", bak, err)
	}
	// A dangling link gets its target created.
	dangling := filepath.Join(dir, "new.json")
	if err := os.Symlink(filepath.Join(dir, "dotfiles", "new-target.json"), dangling); err != nil {
		t.Fatal(err)
	}
	if err := SaveConfig(dangling, DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(dangling); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("dangling link replaced: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dotfiles", "new-target.json")); err != nil {
		t.Fatal(err)
	}
}

// TestWorldWritableConfigRefused: like ssh, a config any user can change
// (or whose directory any user can write) is refused with the chmod that
// fixes it; a sticky world-writable directory (/tmp) is fine.
func TestWorldWritableConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		name              string
		fileMode, dirMode os.FileMode
		want              string
	}{
		{"file 0666", 0o666, 0o700, "chmod 600"},
		{"file 0602", 0o602, 0o755, "chmod 600"},
		{"dir 0777", 0o600, 0o777, "chmod o-w"},
		{"sticky dir", 0o600, 0o777 | os.ModeSticky, ""},
		{"group-writable file", 0o660, 0o750, ""},
		{"private", 0o600, 0o700, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "config.json")
			if err := os.WriteFile(p, []byte(`{}`), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tc.fileMode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.dirMode); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadConfig(p)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "writable by every user") {
				t.Fatalf("want a refusal with %q, got %v", tc.want, err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("not a ConfigError: %T", err)
			}
		})
	}
}

// TestSaveConfigDropsPassword: whatever path saves the config (occ user,
// setup, start save through SaveConfig directly), the plain-text password
// an upstream config held lands neither in the file nor in the backup.
func TestSaveConfigDropsPassword(t *testing.T) {
	for name, old := range map[string]string{
		"upstream file": "{\n  // upstream\n  \"version\": 1,\n  \"auth_username\": \"admin\",\n  \"auth_password\": \"old-secret\",\n  \"image_tag\": \"v1\"\n}\n",
		"last member":   `{"image_tag":"v1","auth_password":"old-secret"}`,
		"escaped key":   `{"auth\u005fpassword":"old-secret","image_tag":"v1"}`,
		"broken file":   `{"image_tag": "v1", "auth_password": "old-sec\"ret" ,,, oops`,
		"broken, cut":   `{"image_tag": "v1", "auth_password": "old-secret`,
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "config.json")
			if err := os.WriteFile(p, []byte(old), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, _, err := LoadConfig(p)
			if err != nil {
				cfg = DefaultConfig() // what config reset writes
			}
			if err := SaveConfig(p, cfg); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{p, p + ".bak"} {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(data), "old-sec") {
					t.Errorf("%s still holds the password:\n%s", filepath.Base(f), data)
				}
			}
			if err == nil {
				bak, _, err := LoadConfig(p + ".bak")
				if err != nil || bak.ImageTag != "v1" {
					t.Errorf("the backup lost the rest of the file: %+v %v", bak, err)
				}
			}
		})
	}
}

// TestUnsafeContainerEnv: variables that change what the sandbox's root
// processes run are refused by config env set and by Validate (so start
// refuses a hand-edited file, saying which command fixes it); ordinary
// ones, API keys included, are taken.
func TestUnsafeContainerEnv(t *testing.T) {
	for _, tc := range []struct {
		key    string
		unsafe bool
	}{
		{"PATH", true}, {"LD_PRELOAD", true}, {"LD_LIBRARY_PATH", true}, {"LD_AUDIT", true}, {"BASH_ENV", true},
		{"ENV", true}, {"SHELLOPTS", true}, {"PS4", true}, {"IFS", true}, {"GCONV_PATH", true}, {"GLIBC_TUNABLES", true},
		{"BASH_FUNC_x", true}, {"ANTHROPIC_API_KEY", false}, {"OPENAI_API_KEY", false}, {"TZ", false}, {"LANG", false},
		{"PATHS", false}, {"MY_PATH", false}, {"ENVIRONMENT", false},
	} {
		c := DefaultConfig()
		err := c.SetEnv(tc.key + "=v4lue")
		if tc.unsafe != (err != nil) {
			t.Errorf("SetEnv %s: %v", tc.key, err)
		}
		if err != nil && (!errdefs.IsInvalidArgument(err) || strings.Contains(err.Error(), "v4lue")) {
			t.Errorf("SetEnv %s: %v (want invalid argument, no value)", tc.key, err)
		}
		c.ContainerEnv = []string{tc.key + "=v4lue"}
		err = c.Validate()
		if tc.unsafe != (err != nil) {
			t.Errorf("Validate %s: %v", tc.key, err)
		}
		if err != nil && !strings.Contains(err.Error(), "occ config env remove "+tc.key) {
			t.Errorf("Validate %s does not say how to fix it: %v", tc.key, err)
		}
		if got := SafeEnv(c.ContainerEnv); tc.unsafe != (len(got) == 0) {
			t.Errorf("SafeEnv %s = %q", tc.key, got)
		}
	}
	if got := MaskEnv([]string{"A=secret", "B=", "C"}); strings.Join(got, " ") != "A=******** B= C" {
		t.Errorf("MaskEnv = %q", got)
	}
}

// TestRestartBounds: restart_delay and restart_retries that overflowed
// the systemd unit's StartLimitIntervalSec are refused by validation.
func TestRestartBounds(t *testing.T) {
	for _, tc := range []struct {
		delay, retries int
		ok             bool
	}{
		{5, 3, true}, {0, 0, true}, {MaxRestartDelay, MaxRestartRetries, true},
		{MaxRestartDelay + 1, 3, false}, {5, MaxRestartRetries + 1, false}, {1 << 62, 3, false}, {-1, 3, false},
	} {
		c := DefaultConfig()
		c.RestartDelay, c.RestartRetries = tc.delay, tc.retries
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("delay %d retries %d: %v", tc.delay, tc.retries, err)
		}
	}
}

// TestRemoveStaleTemps: a save occ was killed in the middle of left its
// .<name>.tmp-<n> file for good. The next save of that file, and every
// mutating command (App.Lock), removes those older than StaleTempAge; a
// fresh one (a save in progress) and other files stay.
func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-2 * StaleTempAge)
	mk := func(name string, stale bool) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if stale {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	staleCfg := mk(".config.json.tmp-123456", true)
	staleState := mk(".image-state.json.tmp-42", true)
	fresh := mk(".config.json.tmp-777", false)
	others := []string{mk("notes.tmp-1", true), mk(".config.json.tmp-abc", true), mk("config.json.bak", true)}

	if err := SaveConfig(filepath.Join(dir, "config.json"), DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(staleCfg); err == nil {
		t.Error("the save left the stale temporary file of config.json")
	}
	if _, err := os.Stat(staleState); err != nil {
		t.Error("a save of config.json removed another file's temporary file")
	}
	if n := RemoveStaleTemps(dir, "", StaleTempAge); n != 1 {
		t.Errorf("removed %d, want 1 (the state file's)", n)
	}
	for _, p := range append(others, fresh) {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed", filepath.Base(p))
		}
	}
}
