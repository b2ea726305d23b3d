package ops

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

// reservedUsernames are accounts of the sandbox image that can never be
// login users (the image refuses records naming them too).
var reservedUsernames = []string{
	"root", "opencoder", "ubuntu", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail",
	"news", "uucp", "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "_apt",
	"messagebus", "systemd-network", "systemd-resolve", "systemd-timesync",
}

// CheckUsername refuses a name that cannot be a login user, before
// anything is read, locked or executed.
func CheckUsername(name string) error {
	if err := runtime.ValidateUsername(name); err != nil {
		return err
	}
	if slices.Contains(reservedUsernames, name) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%q is an account of the sandbox image and cannot be a login user: choose another name", name))
	}
	return nil
}

// UsersDir is the host directory holding the user records: the users
// volume, or the host directory of a configured mount that replaces it.
func UsersDir(cfg *meta.Config, paths meta.Paths) string {
	dir := filepath.Join(paths.VolumesDir(), runtime.UsersVolume)
	for _, s := range cfg.Mounts {
		if m, err := meta.ParseMount(s); err == nil && filepath.Clean(m.Target) == runtime.UsersContainerDir {
			dir = m.Source // the last one wins, as in the container
		}
	}
	return dir
}

// UserSession is one change to the users: occ's lock, the config and the
// records' directory. End it.
type UserSession struct {
	Config *meta.Config
	// Dir holds the records.
	Dir string

	env  *Env
	lock *meta.Lock
}

// BeginUserChange takes occ's lock and loads the config for a change to
// the users.
func (e *Env) BeginUserChange(ctx context.Context) (*UserSession, error) {
	lock, err := e.Lock(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := e.LoadConfig()
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	// The volumes directory is private, as the runtime makes it; the
	// records' directory is made 0700 when the first record is written.
	if err := meta.EnsurePrivateDir(e.Paths.VolumesDir()); err != nil {
		lock.Unlock()
		return nil, fmt.Errorf("create volumes directory: %w", err)
	}
	return &UserSession{Config: cfg, Dir: UsersDir(cfg, e.Paths), env: e, lock: lock}, nil
}

// End lets go of the lock.
func (s *UserSession) End() { s.lock.Unlock() }

// SetConfigUser keeps the config's users list in step with the records
// (present: listed once; absent: not listed). It runs under the session's
// lock, so it saves the config directly.
func (s *UserSession) SetConfigUser(name string, present bool) error {
	has := slices.Contains(s.Config.Users, name)
	switch {
	case present && !has:
		s.Config.Users = append(s.Config.Users, name)
	case !present && has:
		s.Config.Users = slices.DeleteFunc(s.Config.Users, func(u string) bool { return u == name })
	default:
		return nil
	}
	if err := meta.SaveConfig(s.env.Paths.ConfigFile, s.Config); err != nil {
		return fmt.Errorf("the user record was saved, but the users list in the config was not updated: %w", err)
	}
	return nil
}

// applyTimeout bounds the exec that applies a record in the running sandbox
// (it includes a graceful gateway reload of up to a few seconds).
const applyTimeout = 60 * time.Second

// Apply makes the changed record of name count in the running sandbox.
// When the sandbox is not running (or containerd cannot be reached), the
// record is applied at its next start, and the Reporter is told. what
// describes the change for the messages ("adding alice").
func (s *UserSession) Apply(ctx context.Context, name, what string) error {
	r := s.env.Report
	later := func(why string) error {
		r.Infof("The sandbox %s: %s takes effect when it next starts (occ start).", why, what)
		return nil
	}
	rt, err := s.env.dial(ctx, s.Config)
	if err != nil {
		r.Verbosef("containerd: %v", err)
		return later("cannot be checked (containerd is not reachable)")
	}
	defer rt.Close()
	sb, err := SandboxFor(rt, s.Config, s.env.Paths)
	if err != nil {
		r.Verbosef("containerd: %v", err)
		return later("cannot be checked (containerd is not reachable)")
	}
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
	return s.execApply(ctx, sb, name, later)
}

// execApply runs the sandbox's users command for name.
func (s *UserSession) execApply(ctx context.Context, sb *runtime.Sandbox, name string, later func(string) error) error {
	r := s.env.Report
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
			r.Verbosef("sandbox: %s", l)
		}
	}
	if code != 0 {
		return errdefs.ErrUnknown.WithMessage(fmt.Sprintf("the user record was saved, but the sandbox could not apply it (exit status %d): %s; check the record, or restart the sandbox (occ restart)",
			code, strings.TrimSpace(out.String())))
	}
	r.Verbosef("applied in the running sandbox %s", sb.Name())
	return nil
}

// Generated passwords: alphanumeric, 30 characters unless
// OPENCODE_PASSWORD_LENGTH says otherwise (12-128), as upstream.
const (
	passwordAlphabet      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	defaultPasswordLength = 30
)

// GeneratePassword makes a random password.
func GeneratePassword() (string, error) {
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

// PasswordOptions say where a new password comes from.
type PasswordOptions struct {
	// Generate makes a random one instead of asking.
	Generate bool
	// Show is given a generated password at once, before the change is
	// applied in the sandbox: it is the only place it appears.
	Show func(name, password string)
}

// password returns the new password: generated, typed twice on a terminal
// (an empty entry means generate), or one line on stdin.
func (e *Env) password(name string, o PasswordOptions) (pw string, generated bool, err error) {
	if !o.Generate {
		if e.Prompt.CanPrompt() {
			e.Report.Infof("Type a password for %s (leave it empty to generate one).", name)
		}
		if pw, err = e.Prompt.ReadSecret("Password", true); err != nil {
			return "", false, err
		}
		if pw != "" {
			return pw, false, runtime.ValidatePassword(pw)
		}
	}
	pw, err = GeneratePassword()
	return pw, true, err
}

// Password is the password for name as o asks: generated, or typed at the
// prompt (twice) or read from stdin. For callers that keep the record
// elsewhere (occ user --kube).
func (e *Env) Password(name string, o PasswordOptions) (pw string, generated bool, err error) {
	return e.password(name, o)
}

// AskUsername is name, or the name typed at the prompt (default admin).
func (e *Env) AskUsername(name string) (string, error) { return e.askUsername(name) }
