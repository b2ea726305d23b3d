package meta

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// TestFileModes: the config, its backup and the image state are 0600 and
// occ's directories 0700, whether occ creates them or finds them with
// wider modes (a directory upstream or a umask of 0 made).
func TestFileModes(t *testing.T) {
	old := umask(0)
	defer umask(old)
	root := t.TempDir()
	p := Paths{ConfigFile: filepath.Join(root, "config", AppName, "config.json"), DataDir: filepath.Join(root, "data", AppName)}

	// Created by occ.
	if err := p.SecureDirs(); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	if err := SaveConfig(p.ConfigFile, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.ImageTag = "v2"
	if err := SaveConfig(p.ConfigFile, cfg); err != nil { // writes the .bak
		t.Fatal(err)
	}
	if err := SaveState(p.StateFile(), &ImageState{Provenance: Provenance{Source: SourcePrebuilt, AcquiredAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	l, err := AcquireLock(t.Context(), p.LockFile(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	for path, want := range map[string]os.FileMode{
		p.ConfigFile: 0o600, p.BackupFile(): 0o600, p.StateFile(): 0o600, p.LockFile(): 0o600,
		p.ConfigDir(): 0o700, p.DataDir: 0o700,
	} {
		if got := mode(t, path); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}

	// Found with wider modes: tightened.
	for _, d := range []string{p.ConfigDir(), p.DataDir} {
		os.Chmod(d, 0o755)
	}
	os.Chmod(p.ConfigFile, 0o644)
	if err := p.SecureDirs(); err != nil {
		t.Fatal(err)
	}
	if err := SaveConfig(p.ConfigFile, cfg); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{p.ConfigFile: 0o600, p.ConfigDir(): 0o700, p.DataDir: 0o700} {
		if got := mode(t, path); got != want {
			t.Errorf("after tightening: %s: mode %o, want %o", path, got, want)
		}
	}

	// A --config elsewhere: its directory is the user's business, the file is still 0600.
	other := filepath.Join(root, "elsewhere")
	os.Mkdir(other, 0o755)
	q := Paths{ConfigFile: filepath.Join(other, "occ.json"), DataDir: p.DataDir}
	if err := q.SecureDirs(); err != nil {
		t.Fatal(err)
	}
	if err := SaveConfig(q.ConfigFile, cfg); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, other); got != 0o755 {
		t.Errorf("a --config directory of the user's was changed to %o", got)
	}
	if got := mode(t, q.ConfigFile); got != 0o600 {
		t.Errorf("--config file: mode %o, want 600", got)
	}
}
