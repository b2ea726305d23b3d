//go:build integration

package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	"github.com/creack/pty"

	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// The setup wizard is driven through a real pseudo-terminal, as a person
// would: keys in, screen out. It needs no daemon: containerd is pointed at
// a socket that does not exist and the service is not started, so these
// tests run without the testbed too:
//
//	go test -count=1 -tags integration -run TestSetupWizard ./integration/

// expectTimeout bounds each wait for a prompt; it only turns a hang into a
// failure (nothing is timed).
const expectTimeout = 60 * time.Second

// ansiRe matches terminal escape sequences (CSI, OSC, charset and
// single-character escapes), stripped before matching screen text.
var ansiRe = regexp.MustCompile(`\x1b\[[0-9;?<>=!]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78DEMc]`)

// ptyTerm is a minimal expect: it runs a command on a pseudo-terminal,
// answers the terminal queries a real terminal would (background colour,
// cursor position), and waits for text to appear on the screen.
type ptyTerm struct {
	t    *testing.T
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	raw  bytes.Buffer
	vt   *vt.Emulator // what the screen shows now (TUIs redraw only the cells that change)
	seen int          // how much of the stripped output earlier expects consumed
	upd  chan struct{}
	done chan struct{} // the command exited
	// drained is closed once the reader has read everything the command
	// wrote (the pty's EIO after the last writer closed it).
	drained chan struct{}
	err     error // the command's Wait result
}

func startPTY(t *testing.T, env []string, bin string, args ...string) *ptyTerm {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 140})
	if err != nil {
		t.Fatalf("start %s on a pty: %v", bin, err)
	}
	p := &ptyTerm{t: t, cmd: cmd, tty: tty, vt: vt.NewEmulator(140, 50), upd: make(chan struct{}, 1), done: make(chan struct{}), drained: make(chan struct{})}
	go func() { _, _ = io.Copy(io.Discard, p.vt) }() // its own replies: the queries are answered below
	go p.read()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		tty.Close()
	})
	return p
}

// queries a terminal answers (termenv asks for the background colour and
// the cursor position to pick a theme).
var queries = []struct{ ask, reply string }{
	{"\x1b]11;?", "\x1b]11;rgb:0000/0000/0000\x1b\\"},
	{"\x1b[6n", "\x1b[1;1R"},
}

func (p *ptyTerm) read() {
	defer close(p.drained)
	buf := make([]byte, 4096)
	answered := make([]int, len(queries))
	for {
		n, err := p.tty.Read(buf)
		if n > 0 {
			// OCC_PTY_DEBUG=FILE logs what occ writes, with times, to debug a test.
			if os.Getenv("OCC_PTY_DEBUG") != "" {
				if f, err := os.OpenFile(os.Getenv("OCC_PTY_DEBUG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
					fmt.Fprintf(f, "%s %q\n", time.Now().Format("15:04:05.000"), buf[:n])
					f.Close()
				}
			}
			p.mu.Lock()
			p.raw.Write(buf[:n])
			_, _ = p.vt.Write(buf[:n])
			all := p.raw.String()
			p.mu.Unlock()
			for i, q := range queries {
				if c := strings.Count(all, q.ask); c > answered[i] {
					for ; answered[i] < c; answered[i]++ {
						_, _ = io.WriteString(p.tty, q.reply)
					}
				}
			}
			select {
			case p.upd <- struct{}{}:
			default:
			}
		}
		if err != nil { // EIO once the command has exited
			return
		}
	}
}

// screen is everything shown so far, escape sequences removed.
func (p *ptyTerm) screen() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ansiRe.ReplaceAllString(p.raw.String(), "")
}

// shown is the text on the emulated screen now.
func (p *ptyTerm) shown() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.vt.String()
}

// expect waits until text shows up after what earlier expects consumed,
// or is on the screen (a redraw may write only the cells that changed, so
// the text never passes through the output in one piece).
func (p *ptyTerm) expect(text string) {
	p.t.Helper()
	deadline := time.After(expectTimeout)
	for {
		s := p.screen()
		if i := strings.Index(s[p.seen:], text); i >= 0 {
			p.seen += i + len(text)
			return
		}
		if strings.Contains(p.shown(), text) {
			p.seen = len(s)
			return
		}
		select {
		case <-p.upd:
		case <-p.done:
			p.waitDrained()
			s := p.screen()
			if i := strings.Index(s[p.seen:], text); i >= 0 {
				p.seen += i + len(text)
				return
			}
			if strings.Contains(p.shown(), text) {
				p.seen = len(s)
				return
			}
			p.t.Fatalf("occ exited (%v) before showing %q; screen:\n%s", p.err, text, tail(p.screen()))
		case <-deadline:
			p.t.Fatalf("%q never showed up; screen:\n%s", text, tail(p.screen()))
		}
	}
}

// send types keys.
func (p *ptyTerm) send(keys string) {
	p.t.Helper()
	if _, err := io.WriteString(p.tty, keys); err != nil {
		p.t.Fatalf("type %q: %v", keys, err)
	}
}

// waitDrained waits, after the command exited, until its last output has
// been read: the screen is then complete.
func (p *ptyTerm) waitDrained() {
	p.t.Helper()
	select {
	case <-p.drained:
	case <-time.After(5 * time.Second):
		p.t.Fatalf("the pty was not closed 5 s after occ exited (a child still holds it?); screen:\n%s", tail(p.screen()))
	}
}

// wait returns the exit code (the output all read).
func (p *ptyTerm) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(expectTimeout):
		p.t.Fatalf("occ did not exit; screen:\n%s", tail(p.screen()))
	}
	p.waitDrained()
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("occ: %v", p.err)
	}
	return 0
}

func tail(s string) string {
	// Drop repeated lines (the blinking cursor redraws the same line).
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimRight(l, " \r")
		if l == "" || (len(out) > 0 && out[len(out)-1] == l) {
			continue
		}
		out = append(out, l)
	}
	s = strings.Join(out, "\n")
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}

// Keys as a terminal sends them.
const (
	keyEnter = "\r"
	keyDown  = "\x1b[B"
	keyEsc   = "\x1b"
	keyCtrlC = "\x03"
	keyCtrlU = "\x15" // delete the line before the cursor
)

// setupEnv is a throw-away occ installation for the wizard, with no
// reachable containerd.
func setupEnv(t *testing.T) (env []string, paths meta.Paths) {
	base := t.TempDir()
	in := testutil.NewInstall(t, base, "NO_COLOR=", "TERM=xterm-256color",
		"CONTAINERD_ADDRESS="+filepath.Join(base, "no-containerd.sock"))
	return in.Env, in.Paths
}

func setupFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestSetupWizardChoosesBuild walks the wizard on a new install: custom
// setup, build from source, a port, this machine only, a first user, save,
// do not start. The config and the user's record must say so.
func TestSetupWizardChoosesBuild(t *testing.T) {
	env, paths := setupEnv(t)
	port := setupFreePort(t)
	const password = `s3cret "pw" $HOME`
	p := startPTY(t, env, testutil.OccBinary(t), "setup")

	p.expect("Setup mode")
	p.send(keyDown + keyEnter) // custom
	p.expect("✓ Setup mode: custom")

	p.expect("Image source")
	p.expect("Build from source (30–60 min)")
	p.send(keyDown + keyEnter)
	p.expect("✓ Image source: build")

	p.expect("Web UI port")
	p.send(keyCtrlU + strconv.Itoa(port) + keyEnter)
	p.expect(fmt.Sprintf("✓ Port: %d", port))

	p.expect("Network access")
	p.send(keyEnter) // this machine only (the default)
	p.expect("✓ Bind address: 127.0.0.1")

	p.expect("Persistence")
	p.send(keyEnter) // keep: none
	p.expect("✓ Mounts: (none)")

	// One form holds the three fields: wait for each to take the focus
	// (┃) before typing into it, as a person would.
	p.expect("┃ Username")
	p.send(keyCtrlU + "alice" + keyEnter)
	p.expect("┃ Password")
	p.send(password + keyEnter)
	p.expect("┃ Confirm password")
	p.send(password + keyEnter)
	p.expect("✓ Login user: alice")

	p.expect("Save this configuration?")
	p.expect("Build from source")
	p.expect("127.0.0.1 [LOCAL ONLY]")
	p.expect("alice (new)")
	p.send(keyEnter) // Save (the default)

	p.expect("Start opencode-cloud now?")
	p.send("n")
	p.expect("Configuration saved")
	p.expect("Start the service with: occ start")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d; screen:\n%s", code, tail(p.screen()))
	}
	if strings.Contains(p.screen(), password) {
		t.Error("the password was echoed on the terminal")
	}

	data, err := os.ReadFile(paths.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := meta.LoadConfig(paths.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ImageSource != meta.SourceBuild {
		t.Errorf("image_source = %q, want build:\n%s", cfg.ImageSource, data)
	}
	if cfg.OpencodeWebPort != port || cfg.BindAddress != "127.0.0.1" {
		t.Errorf("port %d bind_address %q, want %d 127.0.0.1", cfg.OpencodeWebPort, cfg.BindAddress, port)
	}
	if cfg.Bind != meta.DefaultConfig().Bind {
		t.Errorf("the legacy bind key was written: %q", cfg.Bind)
	}
	if len(cfg.Users) != 1 || cfg.Users[0] != "alice" {
		t.Errorf("users = %v", cfg.Users)
	}
	if bytes.Contains(data, []byte("s3cret")) {
		t.Error("the password is in the config file")
	}
	rec, err := runtime.ReadUserRecord(filepath.Join(paths.VolumesDir(), runtime.UsersVolume), "alice")
	if err != nil {
		t.Fatalf("alice's record: %v", err)
	}
	if !runtime.VerifyPassword(rec.PasswordHash, password) {
		t.Error("alice's record does not hold the typed password")
	}
}

// TestSetupWizardCancel presses Esc or Ctrl-C part-way through: occ says
// nothing was changed, exits 130, and the config, its backup and the user
// records are exactly as before.
func TestSetupWizardCancel(t *testing.T) {
	// A port that is taken, so quick setup offers the next free one.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name  string
		drive func(p *ptyTerm)
	}{
		{name: "esc at the image source", drive: func(p *ptyTerm) {
			p.expect("Setup mode")
			p.send(keyEnter)
			p.expect("Image source")
			p.send(keyDown) // moved, not chosen
			p.send(keyEsc)
		}},
		{name: "ctrl-c at the busy port", drive: func(p *ptyTerm) {
			p.expect("Setup mode")
			p.send(keyEnter) // quick
			p.expect("Image source")
			p.send(keyDown + keyEnter)
			p.expect(fmt.Sprintf("Port %d is already in use on 127.0.0.1", busyPort))
			p.expect("(the next free one)")
			p.send(keyCtrlC)
		}},
		{name: "ctrl-c while typing the password", drive: func(p *ptyTerm) {
			p.expect("Setup mode")
			p.send(keyDown + keyEnter) // custom
			p.expect("Image source")
			p.send(keyDown + keyEnter)
			p.expect("Web UI port")
			p.send(keyCtrlU + strconv.Itoa(setupFreePort(t)) + keyEnter)
			p.expect("Network access")
			p.send(keyDown + keyEnter) // all interfaces
			p.expect("WARNING: NETWORK EXPOSURE")
			p.send("y")
			p.expect("✓ Bind address: 0.0.0.0")
			p.expect("Persistence")
			p.send(keyEnter)
			p.expect("┃ Username")
			p.send(keyCtrlU + "carol" + keyEnter)
			p.expect("┃ Password")
			p.send("half-typed")
			p.send(keyCtrlC)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, paths := setupEnv(t)
			cfg := meta.DefaultConfig()
			cfg.OpencodeWebPort = busyPort
			cfg.UpdateCheck = meta.UpdateCheckOnce
			if err := meta.SaveConfig(paths.ConfigFile, cfg); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(paths.ConfigFile)
			if err != nil {
				t.Fatal(err)
			}

			p := startPTY(t, env, testutil.OccBinary(t), "setup")
			p.expect("Reconfigure?")
			p.expect(fmt.Sprintf("Port:          %d", busyPort))
			p.send("y")
			tc.drive(p)
			p.expect("Setup cancelled; nothing was changed.")
			if code := p.wait(); code != 130 {
				t.Errorf("exit %d, want 130", code)
			}

			after, err := os.ReadFile(paths.ConfigFile)
			if err != nil || !bytes.Equal(before, after) {
				t.Errorf("the config changed (%v):\n%s", err, after)
			}
			if _, err := os.Stat(paths.BackupFile()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a backup was written, so the config was saved: %v", err)
			}
			if entries, _ := os.ReadDir(filepath.Join(paths.VolumesDir(), runtime.UsersVolume)); len(entries) > 0 {
				t.Errorf("user records were written: %v", entries)
			}
		})
	}
}
