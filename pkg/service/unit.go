package service

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/containerd/errdefs"
)

// Name is the unit's name (without .service).
const Name = "opencode-cloud"

// Boot modes (the config's boot_mode).
const (
	ModeUser   = "user"
	ModeSystem = "system"
)

// Options are the inputs of the unit.
type Options struct {
	Mode       string // ModeUser or ModeSystem
	Executable string // absolute path of the occ binary
	ConfigFile string // absolute path of the config file, passed with --config
	// Env is written as Environment= lines (KEY=value), e.g. the XDG data
	// directory, so the service finds the same data as the installing user.
	Env []string
	// User runs a system unit as this user (User=); ignored in user mode.
	User string

	AutoRestart    bool // Restart=on-failure (else Restart=no)
	RestartDelay   int  // seconds between restarts (RestartSec)
	RestartRetries int  // restarts allowed within the start-limit interval
	// StopTimeout is `occ stop`'s graceful timeout in seconds; systemd
	// waits a little longer than that for ExecStop.
	StopTimeout int
}

// Validate checks the options.
func (o Options) Validate() error {
	switch {
	case o.Mode != ModeUser && o.Mode != ModeSystem:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("boot_mode must be user or system, got %q (occ config set boot_mode user)", o.Mode))
	case !filepath.IsAbs(o.Executable):
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the occ executable path %q is not absolute", o.Executable))
	case o.ConfigFile != "" && !filepath.IsAbs(o.ConfigFile):
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the config path %q is not absolute", o.ConfigFile))
	case o.RestartDelay < 0 || o.RestartRetries < 0:
		return errdefs.ErrInvalidArgument.WithMessage("restart_delay and restart_retries must not be negative")
	case o.RestartDelay > MaxRestartDelay:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("restart_delay must be at most %d seconds, got %d (occ config set restart_delay 5)", MaxRestartDelay, o.RestartDelay))
	case o.RestartRetries > MaxRestartRetries:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("restart_retries must be at most %d, got %d (occ config set restart_retries 3)", MaxRestartRetries, o.RestartRetries))
	case o.StopTimeout < 0 || o.StopTimeout > MaxRestartDelay:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the stop timeout must be 0 to %d seconds, got %d", MaxRestartDelay, o.StopTimeout))
	case o.Mode == ModeSystem && o.User != "" && !userRe.MatchString(o.User):
		// User= takes no quoting: a name with a newline would add
		// directives of its own.
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("OPENCODE_SERVICE_USER %q is not a user name (letters, digits, _, - and ., or a numeric uid)", o.User))
	}
	for _, p := range []string{o.Executable, o.ConfigFile} {
		if strings.ContainsAny(p, "\x00\n\r") {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the path %q has a line break or NUL: move it to a plain path", p))
		}
	}
	for _, kv := range o.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("environment entry %q is not KEY=value", kv))
		}
		if strings.ContainsRune(kv, 0) {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("environment entry %q has a NUL byte", kv))
		}
	}
	return nil
}

// Bounds of the restart settings (meta.MaxRestartDelay/Retries, which
// config validation applies): a day between restarts, a thousand
// restarts, so StartLimitIntervalSec (their product, doubled) stays far
// from overflowing.
const (
	MaxRestartDelay   = 86400
	MaxRestartRetries = 1000
)

// userRe is what User= accepts unquoted: a POSIX-ish user name or a uid.
var userRe = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.-]{0,31}|[0-9]{1,10})$`)

// Render returns the systemd unit for o.
func Render(o Options) (string, error) {
	if err := o.Validate(); err != nil {
		return "", err
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	cmd := func(args ...string) string {
		all := []string{o.Executable}
		if o.ConfigFile != "" {
			all = append(all, "--config", o.ConfigFile)
		}
		all = append(all, args...)
		q := make([]string, len(all))
		for i, a := range all {
			q[i] = quoteArg(a)
		}
		return strings.Join(q, " ")
	}

	w("# Written by `occ install`; remove with `occ uninstall`.")
	w("[Unit]")
	w("Description=opencode-cloud container service")
	w("After=containerd.service network-online.target")
	if o.Mode == ModeSystem {
		// A user manager cannot see system units, so only a system unit
		// can ask for containerd; Wants (not Requires) leaves a containerd
		// run outside systemd usable.
		w("Wants=containerd.service network-online.target")
	}
	if o.RestartRetries > 0 && o.RestartDelay > 0 {
		w("StartLimitIntervalSec=%d", o.RestartDelay*o.RestartRetries*2)
		w("StartLimitBurst=%d", o.RestartRetries)
	}
	w("")
	w("[Service]")
	// occ says READY=1 once the sandbox answers its health check and
	// pings the watchdog while it keeps answering (Notifier). The first
	// start may pull or build the image (minutes, up to an hour for a
	// build), so systemd does not time the start out: occ's own steps do.
	w("Type=notify")
	w("NotifyAccess=main")
	w("TimeoutStartSec=infinity")
	w("WatchdogSec=%d", WatchdogSec)
	if o.Mode == ModeSystem && o.User != "" {
		w("User=%s", o.User)
	}
	for _, kv := range o.Env {
		w("Environment=%s", quoteArg(kv))
	}
	w("ExecStart=%s", cmd("start", "--no-daemon"))
	w("ExecStop=%s", cmd("stop"))
	if o.AutoRestart {
		w("Restart=on-failure")
	} else {
		w("Restart=no")
	}
	w("RestartSec=%ds", o.RestartDelay)
	stop := o.StopTimeout
	if stop <= 0 {
		stop = 30
	}
	w("TimeoutStopSec=%d", stop+15)
	w("")
	w("[Install]")
	if o.Mode == ModeSystem {
		w("WantedBy=multi-user.target")
	} else {
		w("WantedBy=default.target")
	}
	return b.String(), nil
}

// quoteArg quotes one word for a systemd command line or Environment=:
// specifiers (%) and variables ($) are escaped, and words with spaces,
// quotes, backslashes or control characters are double-quoted with
// C-style escapes, so no value can end the line and start a directive.
func quoteArg(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	plain := s != ""
	for _, r := range s {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" \"'\\;", r) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '"':
			b.WriteString(`\"`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
