package meta

import (
	"fmt"
	"os"
	"path/filepath"
)

// AppName is the directory name occ uses under the XDG base directories.
// It matches upstream's, so an upstream user's config is found where it is.
const AppName = "opencode-cloud"

// Paths says where occ keeps its files. The zero value is not useful; use
// DefaultPaths, then override ConfigFile if --config was given.
type Paths struct {
	ConfigFile string // config.json
	DataDir    string // image state, lock, volumes, logs
	// Instance is the sandbox instance (--sandbox-instance): "" is the
	// default one, whose names are occ's original ones. Every per-sandbox
	// name (container, image records, state, lock, volumes, logs, unit)
	// comes from the methods here, so they all follow it. Set it with
	// WithInstance.
	Instance string
}

// DefaultPaths resolves the XDG locations: $XDG_CONFIG_HOME/opencode-cloud
// (default ~/.config/opencode-cloud) and $XDG_DATA_HOME/opencode-cloud
// (default ~/.local/share/opencode-cloud).
func DefaultPaths() (Paths, error) {
	cfg, err := xdgDir("XDG_CONFIG_HOME", ".config")
	if err != nil {
		return Paths{}, err
	}
	data, err := xdgDir("XDG_DATA_HOME", filepath.Join(".local", "share"))
	if err != nil {
		return Paths{}, err
	}
	return Paths{
		ConfigFile: filepath.Join(cfg, AppName, "config.json"),
		DataDir:    filepath.Join(data, AppName),
	}, nil
}

func xdgDir(env, fallback string) (string, error) {
	if v := os.Getenv(env); filepath.IsAbs(v) {
		return v, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the home directory to place occ's files (set $HOME or $%s): %w", env, err)
	}
	return filepath.Join(home, fallback), nil
}

// ConfigDir is the directory holding the config file.
func (p Paths) ConfigDir() string { return filepath.Dir(p.ConfigFile) }

// BackupFile is where the previous config is kept on every save.
func (p Paths) BackupFile() string { return p.ConfigFile + ".bak" }

// StateFile is the image-state sidecar.
func (p Paths) StateFile() string {
	return filepath.Join(p.DataDir, "image-state"+p.suffix()+".json")
}

// LockFile is the file every mutating command locks.
func (p Paths) LockFile() string { return filepath.Join(p.DataDir, "occ"+p.suffix()+".lock") }

// TrustedRootFile is the Sigstore trusted root fetched by
// `occ image trust-root --refresh`; when present it replaces the one
// embedded in occ (image_verify_trusted_root still wins).
func (p Paths) TrustedRootFile() string { return filepath.Join(p.DataDir, "trusted_root.json") }

// VolumesDir holds one host directory per persistent volume.
func (p Paths) VolumesDir() string { return filepath.Join(p.DataDir, "volumes"+p.suffix()) }

// SandboxDir holds the files the sandbox container sees as its
// /etc/hosts, /etc/hostname and /etc/resolv.conf.
func (p Paths) SandboxDir() string { return filepath.Join(p.DataDir, "sandbox"+p.suffix()) }

// LogsDir holds the sandbox container's log files.
func (p Paths) LogsDir() string { return filepath.Join(p.DataDir, "logs"+p.suffix()) }
