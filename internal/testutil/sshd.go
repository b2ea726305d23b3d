package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SSHDPath is OpenSSH's server, from Debian's openssh-server (hack/testbed
// installs it).
const SSHDPath = "/usr/sbin/sshd"

// SSHD is a throw-away OpenSSH server on 127.0.0.1, run as this user, that
// stands in for a remote host: its own host key, one user key allowed, and
// every session started with HOME, PATH (Bin, then this process's PATH)
// and the given variables set
// by the server (sshd_config SetEnv), so the "remote" occ has a home,
// config and data of its own.
type SSHD struct {
	Port int
	// Addr is 127.0.0.1:Port.
	Addr string
	// User is who logs in (this process's user).
	User string
	// UserKey is the private key the server accepts (for -i).
	UserKey string
	// HostKeyPub is the server's public host key, as a known_hosts key
	// ("ssh-ed25519 AAAA…").
	HostKeyPub string
	// Home is the sessions' $HOME; Bin is first on their PATH.
	Home string
	Bin  string
	Dir  string
}

// StartSSHD starts an sshd for the test (stopped at its end); env
// (KEY=value, no spaces or quotes) is set in every session.
func StartSSHD(t testing.TB, env ...string) SSHD {
	t.Helper()
	if _, err := os.Stat(SSHDPath); err != nil {
		t.Fatalf("%s is missing (Debian: apt-get install openssh-server; `hack/testbed up` installs it): %v", SSHDPath, err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("current user: %v", err)
	}
	dir := t.TempDir()
	s := SSHD{Dir: dir, User: u.Username, UserKey: filepath.Join(dir, "user_key"),
		Home: filepath.Join(dir, "home"), Bin: filepath.Join(dir, "bin")}
	for _, d := range []string{s.Home, s.Bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hostKey := filepath.Join(dir, "host_key")
	for _, k := range []string{hostKey, s.UserKey} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "occ-test", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(pub))
	s.HostKeyPub = f[0] + " " + f[1]
	auth := filepath.Join(dir, "authorized_keys")
	if data, err := os.ReadFile(s.UserKey + ".pub"); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(auth, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// sshd run as root needs its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// This process's PATH after Bin: the testbed's runc and daemons' tools.
	setenv := append([]string{"HOME=" + s.Home, "PATH=" + s.Bin + ":" + os.Getenv("PATH")}, env...)

	var cmd *exec.Cmd
	var logf string
	for attempt := 0; attempt < 5; attempt++ {
		s.Port = freePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		cfg := filepath.Join(dir, "sshd_config")
		conf := strings.Join([]string{
			"Port " + strconv.Itoa(s.Port),
			"ListenAddress 127.0.0.1",
			"HostKey " + hostKey,
			"AuthorizedKeysFile " + auth,
			"PubkeyAuthentication yes",
			"PasswordAuthentication no",
			"KbdInteractiveAuthentication no",
			"UsePAM no",
			"StrictModes no",
			"PidFile none",
			"PermitRootLogin prohibit-password",
			"AllowUsers " + s.User,
			"X11Forwarding no",
			"SetEnv " + strings.Join(setenv, " "),
		}, "\n") + "\n"
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		logf = filepath.Join(dir, "sshd.log")
		log, err := os.Create(logf)
		if err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(SSHDPath, "-D", "-e", "-f", cfg)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting sshd: %v", err)
		}
		log.Close()
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if waitListening(s.Addr, exited, 10*time.Second) {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			return s
		}
		_ = cmd.Process.Kill()
		<-exited
	}
	out, _ := os.ReadFile(logf)
	t.Fatalf("sshd did not start listening: %s", out)
	return s
}

// freePort is a TCP port on 127.0.0.1 nothing listened on a moment ago.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitListening(addr string, exited <-chan struct{}, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// KnownHostsLine is the server's key as a known_hosts line.
func (s SSHD) KnownHostsLine() string {
	return fmt.Sprintf("[127.0.0.1]:%d %s", s.Port, s.HostKeyPub)
}
