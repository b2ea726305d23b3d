package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/errdefs"
	"golang.org/x/crypto/ssh"
	"golang.org/x/mod/semver"
	"golang.org/x/term"
)

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// pathExpr is path as a shell word, with a leading ~/ taken as $HOME.
func pathExpr(path string) string {
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		return `"$HOME"/` + Quote(rest)
	}
	return Quote(path)
}

// RemoteOcc is what Probe found on a host.
type RemoteOcc struct {
	// Uname is `uname -sm` there ("Linux x86_64").
	Uname string
	// Home is $HOME there.
	Home string
	// Path is the occ that runs (or would be installed), as the shell sees it.
	Path string
	// Found is whether an executable occ is there; Version is its version
	// ("" when its --version printed none).
	Found   bool
	Version string
}

// Platform is Uname as GOOS/GOARCH ("" when unknown).
func (r RemoteOcc) Platform() string { return PlatformOf(r.Uname) }

// PlatformOf maps `uname -sm` to GOOS/GOARCH.
func PlatformOf(uname string) string {
	f := strings.Fields(uname)
	if len(f) != 2 {
		return ""
	}
	goos := strings.ToLower(f[0])
	arch := map[string]string{"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
		"armv7l": "arm", "i686": "386", "i386": "386", "riscv64": "riscv64", "ppc64le": "ppc64le", "s390x": "s390x"}[f[1]]
	if arch == "" {
		return ""
	}
	return goos + "/" + arch
}

// Older reports whether remote is an older release than local; versions
// that are not semantic versions (development builds) are never older.
func Older(remote, local string) bool {
	r, l := "v"+strings.TrimPrefix(remote, "v"), "v"+strings.TrimPrefix(local, "v")
	return semver.IsValid(r) && semver.IsValid(l) && semver.Compare(r, l) < 0
}

// output runs script on c and returns its stdout; stderr goes into the error.
func output(ctx context.Context, c *ssh.Client, script string, stdin io.Reader) (string, error) {
	s, err := c.NewSession()
	if err != nil {
		return "", fmt.Errorf("opening an SSH session: %w", err)
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr, s.Stdin = &out, &errb, stdin
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	if err := s.Run(script); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return out.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// locate is a shell fragment setting $p to the occ to run: occPath, else
// the occ on PATH, else DefaultOccPath.
func locate(occPath string) string {
	if occPath != "" {
		return "p=" + pathExpr(occPath)
	}
	return `p=$(command -v occ 2>/dev/null) || p=` + pathExpr(DefaultOccPath)
}

// Probe finds occ on the host and its version, and the host's platform.
func Probe(ctx context.Context, c *ssh.Client, occPath string) (RemoteOcc, error) {
	script := `uname -sm; echo "$HOME"; ` + locate(occPath) + `; if [ -x "$p" ] && [ -f "$p" ]; then echo "found $p"; "$p" --version 2>/dev/null || true; else echo "missing $p"; fi`
	out, err := output(ctx, c, script, nil)
	if err != nil {
		return RemoteOcc{}, fmt.Errorf("looking for occ on the remote host: %w", err)
	}
	return parseProbe(out)
}

func parseProbe(out string) (RemoteOcc, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 3 {
		return RemoteOcc{}, errdefs.ErrUnknown.WithMessage(fmt.Sprintf("looking for occ on the remote host: unexpected answer %q", out))
	}
	r := RemoteOcc{Uname: strings.TrimSpace(lines[0]), Home: lines[1]}
	state, path, _ := strings.Cut(lines[2], " ")
	r.Path, r.Found = path, state == "found"
	if r.Found && len(lines) > 3 {
		// "occ 0.1.0 (commit abc)"
		if f := strings.Fields(lines[3]); len(f) >= 2 && f[0] == "occ" {
			r.Version = f[1]
		}
	}
	return r, nil
}

// Install copies the binary bin (size bytes) to dest on the host, atomically:
// a temporary file beside it, made executable, renamed over dest.
func Install(ctx context.Context, c *ssh.Client, bin io.Reader, dest string) error {
	script := `set -e; p=` + pathExpr(dest) + `; d=$(dirname "$p"); mkdir -p "$d"; t="$d/.occ.tmp.$$"; trap 'rm -f "$t"' EXIT; cat > "$t"; chmod 0755 "$t"; mv -f "$t" "$p"; trap - EXIT`
	if _, err := output(ctx, c, script, bin); err != nil {
		return fmt.Errorf("installing occ as %s on the remote host: %w", dest, err)
	}
	return nil
}

// RunOptions are one remote occ command's arguments and streams.
type RunOptions struct {
	Args   []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// TTY, when set, is the local terminal: the remote command gets a PTY of
	// its size (kept in step), and the terminal is in raw mode meanwhile.
	// Stdout and stderr then arrive together on Stdout.
	TTY *os.File
}

// Run runs occ (at path, as Probe found it) with o.Args on the host and
// returns its exit code. A command cut off by ctx returns ctx's error.
func Run(ctx context.Context, c *ssh.Client, path string, o RunOptions) (int, error) {
	s, err := c.NewSession()
	if err != nil {
		return 0, fmt.Errorf("opening an SSH session: %w", err)
	}
	defer s.Close()
	s.Stdin, s.Stdout, s.Stderr = o.Stdin, o.Stdout, o.Stderr
	if o.TTY != nil {
		restore, err := withPTY(s, o.TTY)
		if err != nil {
			return 0, err
		}
		defer restore()
	}
	cmd := make([]string, 0, len(o.Args)+2)
	cmd = append(cmd, "exec", pathExpr(path))
	for _, a := range o.Args {
		cmd = append(cmd, Quote(a))
	}
	stop := context.AfterFunc(ctx, func() {
		_ = s.Signal(ssh.SIGTERM)
		s.Close()
	})
	defer stop()
	err = s.Run(strings.Join(cmd, " "))
	var ee *ssh.ExitError
	var me *ssh.ExitMissingError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		if ee.Signal() != "" && ee.ExitStatus() == 0 {
			return 128 + 15, nil
		}
		return ee.ExitStatus(), nil
	case ctx.Err() != nil:
		return 0, ctx.Err()
	case errors.As(err, &me):
		return 0, errdefs.ErrUnavailable.WithMessage("the remote occ ended without an exit status (connection lost)")
	default:
		return 0, fmt.Errorf("running occ on the remote host: %w", err)
	}
}

// withPTY asks for a PTY the size of tty, puts tty in raw mode and keeps the
// remote size in step with it; restore undoes it.
func withPTY(s *ssh.Session, tty *os.File) (restore func(), err error) {
	fd := int(tty.Fd())
	w, h, err := term.GetSize(fd)
	if err != nil {
		w, h = 80, 24
	}
	t := os.Getenv("TERM")
	if t == "" {
		t = "xterm"
	}
	if err := s.RequestPty(t, h, w, ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}); err != nil {
		return nil, fmt.Errorf("asking the remote host for a terminal: %w", err)
	}
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("terminal raw mode: %w", err)
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-winch:
				if w, h, err := term.GetSize(fd); err == nil {
					_ = s.WindowChange(h, w)
				}
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		close(done)
		_ = term.Restore(fd, old)
	}, nil
}

// PrefixWriter writes to W with Prefix at the start of every line.
type PrefixWriter struct {
	W      io.Writer
	Prefix string
	mu     sync.Mutex
	mid    bool
}

func (p *PrefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	var buf bytes.Buffer
	for len(b) > 0 {
		if !p.mid {
			buf.WriteString(p.Prefix)
			p.mid = true
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			buf.Write(b)
			break
		}
		buf.Write(b[:i+1])
		b = b[i+1:]
		p.mid = false
	}
	if _, err := p.W.Write(buf.Bytes()); err != nil {
		return 0, err
	}
	return n, nil
}
