package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// UserCmd manages the sandbox's login users. Each user is a record in the
// users volume (the source of truth, restored by the image at every start);
// when the sandbox is running the change is also applied in it at once.
type UserCmd struct {
	Add     UserAddCmd     `cmd:"" help:"Add a login user (password from a prompt, stdin, or --generate)."`
	Remove  UserRemoveCmd  `cmd:"" aliases:"rm" help:"Remove a login user."`
	List    UserListCmd    `cmd:"" aliases:"ls" help:"List the login users and whether they are enabled."`
	Passwd  UserPasswdCmd  `cmd:"" help:"Set a user's password."`
	Enable  UserEnableCmd  `cmd:"" help:"Let a disabled user log in again."`
	Disable UserDisableCmd `cmd:"" help:"Stop a user from logging in (the record is kept)."`
}

// reservedUsernames are accounts of the sandbox image that can never be
// login users (the image refuses records naming them too).
var reservedUsernames = []string{
	"root", "opencoder", "ubuntu", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail",
	"news", "uucp", "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "_apt",
	"messagebus", "systemd-network", "systemd-resolve", "systemd-timesync",
}

// checkUsername refuses a name that cannot be a login user, before anything
// is read, locked or executed.
func checkUsername(name string) error {
	if err := runtime.ValidateUsername(name); err != nil {
		return err
	}
	if slices.Contains(reservedUsernames, name) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%q is an account of the sandbox image and cannot be a login user: choose another name", name))
	}
	return nil
}

// usersDir is the host directory holding the user records: the users
// volume, or the host directory of a configured mount that replaces it.
func usersDir(cfg *meta.Config, paths meta.Paths) string {
	dir := filepath.Join(paths.VolumesDir(), runtime.UsersVolume)
	for _, s := range cfg.Mounts {
		if m, err := meta.ParseMount(s); err == nil && filepath.Clean(m.Target) == runtime.UsersContainerDir {
			dir = m.Source // the last one wins, as in the container
		}
	}
	return dir
}

// userSession is one mutating user command: occ's lock, the config and the
// records' directory.
type userSession struct {
	app  *App
	cfg  *meta.Config
	dir  string
	lock *meta.Lock
}

func beginUserChange(ctx context.Context, app *App) (*userSession, error) {
	lock, err := app.Lock(ctx)
	if err != nil {
		return nil, err
	}
	cfg, _, err := app.LoadConfig()
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	dir := usersDir(cfg, app.Paths)
	// The volumes directory is private, as the runtime makes it; the
	// records' directory is made 0700 when the first record is written.
	if err := meta.EnsurePrivateDir(app.Paths.VolumesDir()); err != nil {
		lock.Unlock()
		return nil, fmt.Errorf("create volumes directory: %w", err)
	}
	return &userSession{app: app, cfg: cfg, dir: dir, lock: lock}, nil
}

func (s *userSession) end() { s.lock.Unlock() }

// setConfigUser keeps the config's users list in step with the records
// (present: listed once; absent: not listed). It runs under the session's
// lock, so it saves directly rather than through App.UpdateConfig.
func (s *userSession) setConfigUser(name string, present bool) error {
	has := slices.Contains(s.cfg.Users, name)
	switch {
	case present && !has:
		s.cfg.Users = append(s.cfg.Users, name)
	case !present && has:
		s.cfg.Users = slices.DeleteFunc(s.cfg.Users, func(u string) bool { return u == name })
	default:
		return nil
	}
	if err := meta.SaveConfig(s.app.Paths.ConfigFile, s.cfg); err != nil {
		return fmt.Errorf("the user record was saved, but the users list in the config was not updated: %w", err)
	}
	return nil
}

// applyTimeout bounds the exec that applies a record in the running sandbox
// (it includes a graceful gateway reload of up to a few seconds).
const applyTimeout = 60 * time.Second

// apply makes the changed record of name count in the running sandbox. When
// the sandbox is not running (or containerd cannot be reached), the record
// is applied at its next start, and occ says so. what describes the change
// for the messages ("added alice").
func (s *userSession) apply(ctx context.Context, name, what string) error {
	ui := s.app.UI
	later := func(why string) error {
		ui.Infof("The sandbox %s: %s takes effect when it next starts (occ start).", why, what)
		return nil
	}
	rt, sb, err := s.app.openSandbox(ctx, s.cfg)
	if err != nil {
		ui.Verbosef("containerd: %v", err)
		return later("cannot be checked (containerd is not reachable)")
	}
	defer rt.Close()
	st, err := sb.Status(ctx)
	if err != nil {
		return fmt.Errorf("the user record was saved, but the sandbox's state could not be read (restart it to apply the change: occ restart): %w", err)
	}
	switch st.State {
	case runtime.StateRunning:
	case runtime.StateMissing:
		return later("is not created yet")
	case runtime.StateCreated:
		return later("is not running (created, not started)")
	default:
		return later("is not running (" + string(st.State) + ")")
	}
	ectx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	var out bytes.Buffer
	code, err := sb.Exec(ectx, runtime.ExecOptions{Args: runtime.UsersApplyCommand(name), Stdout: &out, Stderr: &out})
	if errdefs.IsFailedPrecondition(err) { // it stopped in the meantime
		return later("is not running")
	}
	if err != nil {
		return fmt.Errorf("the user record was saved, but applying it in the running sandbox failed (restart it to apply the change: occ restart): %w", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l != "" {
			ui.Verbosef("sandbox: %s", l)
		}
	}
	if code != 0 {
		return errdefs.ErrUnknown.WithMessage(fmt.Sprintf("the user record was saved, but the sandbox could not apply it (exit status %d): %s; check the record, or restart the sandbox (occ restart)",
			code, strings.TrimSpace(out.String())))
	}
	ui.Verbosef("applied in the running sandbox %s", sb.Name())
	return nil
}

// Generated passwords: alphanumeric, 30 characters unless
// OPENCODE_PASSWORD_LENGTH says otherwise (12-128), as upstream.
const (
	passwordAlphabet      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	defaultPasswordLength = 30
)

func generatePassword() (string, error) {
	n := defaultPasswordLength
	if v := os.Getenv("OPENCODE_PASSWORD_LENGTH"); v != "" {
		l, err := strconv.Atoi(v)
		if err != nil || l < 12 || l > 128 {
			return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("OPENCODE_PASSWORD_LENGTH must be a number from 12 to 128, got %q", v))
		}
		n = l
	}
	b := make([]byte, n)
	max := big.NewInt(int64(len(passwordAlphabet)))
	for i := range b {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("generate a password: %w", err)
		}
		b[i] = passwordAlphabet[k.Int64()]
	}
	return string(b), nil
}

// passwordFlags are add's and passwd's.
type passwordFlags struct {
	Generate          bool `short:"g" help:"Generate a random password and print it once."`
	PrintPasswordOnly bool `name:"print-password-only" help:"With --generate: print only the password (for scripts)."`
}

// password returns the new password: generated, typed twice on a terminal
// (an empty entry means generate), or one line on stdin. generated says
// whether the caller must print it.
func (f passwordFlags) password(app *App, name string) (pw string, generated bool, err error) {
	if err := f.check(); err != nil {
		return "", false, err
	}
	if !f.Generate {
		if app.Interactive {
			app.UI.Infof("Type a password for %s (leave it empty to generate one).", name)
		}
		pw, err = app.ReadSecret("Password", true)
		if err != nil {
			return "", false, err
		}
		if pw != "" {
			return pw, false, runtime.ValidatePassword(pw)
		}
	}
	pw, err = generatePassword()
	return pw, true, err
}

// check refuses flag combinations that make no sense.
func (f passwordFlags) check() error {
	if f.PrintPasswordOnly && !f.Generate {
		return errdefs.ErrInvalidArgument.WithMessage("--print-password-only needs --generate")
	}
	return nil
}

// show prints a generated password once, even with -q: it is the only
// place it appears.
func (f passwordFlags) show(app *App, name, pw string) {
	if f.PrintPasswordOnly {
		fmt.Fprintln(app.UI.Out, pw)
		return
	}
	fmt.Fprintf(app.UI.Out, "Password for %s: %s\n", name, pw)
	app.UI.Infof("This password is shown only once: keep it somewhere safe.")
}
