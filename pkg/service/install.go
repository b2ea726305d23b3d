package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
)

// ErrNoSystemd says systemd is not running (or systemctl is missing), so
// the unit cannot be enabled here.
var ErrNoSystemd = errdefs.ErrFailedPrecondition.WithMessage("systemd is not running on this machine")

// Installer writes, removes and enables the unit. The zero value uses the
// standard locations and the real systemctl.
type Installer struct {
	// UserDir and SystemDir override the unit directories (default:
	// $XDG_CONFIG_HOME/systemd/user and /etc/systemd/system).
	UserDir, SystemDir string
	// Systemctl runs `systemctl [--user] args...` (default: the real one,
	// after checking that systemd runs).
	Systemctl func(ctx context.Context, mode string, args ...string) error
	// Unit is the unit's name without .service (default Name; a sandbox
	// instance's is Name-<id>, meta.Paths.UnitName).
	Unit string
}

// unit is the unit's name (without .service).
func (in *Installer) unit() string {
	if in.Unit == "" {
		return Name
	}
	return in.Unit
}

// UnitPath is where the unit for mode lives.
func (in *Installer) UnitPath(mode string) (string, error) {
	switch mode {
	case ModeSystem:
		dir := in.SystemDir
		if dir == "" {
			dir = "/etc/systemd/system"
		}
		return filepath.Join(dir, in.unit()+".service"), nil
	case ModeUser:
		dir := in.UserDir
		if dir == "" {
			base := os.Getenv("XDG_CONFIG_HOME")
			if !filepath.IsAbs(base) {
				home, err := os.UserHomeDir()
				if err != nil {
					return "", fmt.Errorf("find the home directory for the user unit: %w", err)
				}
				base = filepath.Join(home, ".config")
			}
			dir = filepath.Join(base, "systemd", "user")
		}
		return filepath.Join(dir, in.unit()+".service"), nil
	}
	return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("boot_mode must be user or system, got %q", mode))
}

// Installed reports whether the unit file for mode exists.
func (in *Installer) Installed(mode string) (bool, error) {
	p, err := in.UnitPath(mode)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Current returns the installed unit's text ("" when not installed).
func (in *Installer) Current(mode string) (string, error) {
	p, err := in.UnitPath(mode)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return string(b), nil
}

// WriteUnit writes the unit text atomically (mode 0644) and returns its path.
func (in *Installer) WriteUnit(mode, unit string) (string, error) {
	p, err := in.UnitPath(mode)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return p, writeError(p, mode, err)
	}
	tmp, err := os.CreateTemp(dir, "."+in.unit()+".*.tmp")
	if err != nil {
		return p, writeError(p, mode, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(unit); err != nil {
		tmp.Close()
		return p, writeError(p, mode, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return p, writeError(p, mode, err)
	}
	if err := tmp.Close(); err != nil {
		return p, writeError(p, mode, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return p, writeError(p, mode, err)
	}
	return p, nil
}

func writeError(p, mode string, err error) error {
	if errors.Is(err, fs.ErrPermission) && mode == ModeSystem {
		return fmt.Errorf("write %s: %w (a system unit needs root: run `sudo occ install`, or `occ config set boot_mode user`)", p, err)
	}
	return fmt.Errorf("write %s: %w", p, err)
}

// RemoveUnit deletes the unit file; removed is false when there was none.
func (in *Installer) RemoveUnit(mode string) (path string, removed bool, err error) {
	p, err := in.UnitPath(mode)
	if err != nil {
		return "", false, err
	}
	err = os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("remove %s: %w", p, err)
	}
	return p, true, nil
}

// Enable reloads systemd, enables the unit and (re)starts it.
func (in *Installer) Enable(ctx context.Context, mode string) error {
	for _, args := range [][]string{{"daemon-reload"}, {"enable", in.unit()}, {"restart", in.unit()}} {
		if err := in.systemctl(ctx, mode, args...); err != nil {
			return err
		}
	}
	return nil
}

// Disable stops and disables the unit (before its file is removed).
// Errors are returned so the caller can report them; a unit systemd does
// not know is not an error.
func (in *Installer) Disable(ctx context.Context, mode string) error {
	var errs []error
	for _, args := range [][]string{{"stop", in.unit()}, {"disable", in.unit()}} {
		if err := in.systemctl(ctx, mode, args...); err != nil {
			if errors.Is(err, ErrNoSystemd) {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Reload runs daemon-reload (after the file was removed).
func (in *Installer) Reload(ctx context.Context, mode string) error {
	return in.systemctl(ctx, mode, "daemon-reload")
}

func (in *Installer) systemctl(ctx context.Context, mode string, args ...string) error {
	if in.Systemctl != nil {
		return in.Systemctl(ctx, mode, args...)
	}
	return RunSystemctl(ctx, mode, args...)
}

// SystemdRunning checks that systemd can take the unit: systemctl on PATH,
// systemd as the init system, and for user mode a user manager
// ($XDG_RUNTIME_DIR/systemd). The error says what is missing and what to do.
func SystemdRunning(mode string) error {
	if _, err := exec.LookPath("systemctl"); err != nil {
		return fmt.Errorf("%w: systemctl is not installed; occ install supports systemd only (run `occ start --no-daemon` under your own supervisor instead)", ErrNoSystemd)
	}
	if st, err := os.Stat("/run/systemd/system"); err != nil || !st.IsDir() {
		return fmt.Errorf("%w (/run/systemd/system is missing: the init system is not systemd, e.g. inside a container); run `occ start --no-daemon` under your own supervisor instead", ErrNoSystemd)
	}
	if mode == ModeUser {
		rd := os.Getenv("XDG_RUNTIME_DIR")
		if st, err := os.Stat(filepath.Join(rd, "systemd")); rd == "" || err != nil || !st.IsDir() {
			return fmt.Errorf("%w for this user (no user manager at $XDG_RUNTIME_DIR/systemd; log in through a systemd session, or `loginctl enable-linger $USER`, or use `occ config set boot_mode system` as root)", ErrNoSystemd)
		}
	}
	return nil
}

// RunSystemctl runs the real systemctl after SystemdRunning.
func RunSystemctl(ctx context.Context, mode string, args ...string) error {
	if err := SystemdRunning(mode); err != nil {
		return err
	}
	full := args
	if mode == ModeUser {
		full = append([]string{"--user"}, args...)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "systemctl", full...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("systemctl %s: %w: %s", strings.Join(full, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
