package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// DialTimeout bounds connecting and the SSH handshake (ssh's ConnectTimeout
// as upstream sets it: 10 s).
const DialTimeout = 10 * time.Second

// DialOptions are what a connection needs besides the host.
type DialOptions struct {
	HostKeys *HostKeys
	// LocalUser is the user to log in as when the host names none.
	LocalUser string
	// Home expands ~ in identity files and finds ~/.ssh's default keys.
	Home string
	// AgentSocket is ssh-agent's socket ($SSH_AUTH_SOCK; empty: no agent).
	AgentSocket string
	Timeout     time.Duration
	// SSHConfig fills the fields a host leaves empty, and resolves a jump
	// host's alias, as ssh(1) does (nil: ~/.ssh/config not read).
	SSHConfig *SSHConfig
}

// ParseJump reads a jump host, [user@]host[:port].
func ParseJump(s string) (user, host string, port int, err error) {
	port = DefaultPort
	rest := s
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		user, rest = rest[:i], rest[i+1:]
	}
	host = rest
	if h, p, e := net.SplitHostPort(rest); e == nil {
		host = h
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return "", "", 0, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid jump host %q: bad port", s))
		}
	}
	if host == "" || strings.ContainsAny(host, " /@") || (user == "" && strings.Contains(s, "@")) {
		return "", "", 0, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid jump host %q: use [user@]host[:port]", s))
	}
	return user, host, port, nil
}

// jumpPortGiven reports whether a jump host, [user@]host[:port], names its
// port.
func jumpPortGiven(s string) bool {
	_, _, err := net.SplitHostPort(s[strings.LastIndex(s, "@")+1:])
	return err == nil
}

// expandHome turns a leading ~/ into home.
func expandHome(p, home string) string {
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") && home != "" {
		return filepath.Join(home, p[2:])
	}
	return p
}

// signers are the keys to offer: the host's identity file, then ssh-agent's
// keys, then ~/.ssh's default unencrypted keys when the host names no file.
func signers(name string, h Host, o DialOptions) ([]ssh.Signer, func(), error) {
	var out []ssh.Signer
	closer := func() {}
	if h.IdentityFile != nil && *h.IdentityFile != "" {
		path := expandHome(*h.IdentityFile, o.Home)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, closer, fmt.Errorf("identity file: %w (give another with `occ host edit %s -i FILE`)", err, name)
		}
		s, err := ssh.ParsePrivateKey(data)
		var pe *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &pe):
			if o.AgentSocket == "" {
				return nil, closer, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("identity file %s is encrypted: load it into ssh-agent (ssh-add %s) and try again", path, path))
			}
		case err != nil:
			return nil, closer, fmt.Errorf("identity file %s: %w", path, err)
		default:
			out = append(out, s)
		}
	}
	if o.AgentSocket != "" {
		if conn, err := net.DialTimeout("unix", o.AgentSocket, 2*time.Second); err == nil {
			if ss, err := agent.NewClient(conn).Signers(); err == nil {
				out = append(out, ss...)
			}
			closer = func() { conn.Close() }
		}
	}
	if (h.IdentityFile == nil || *h.IdentityFile == "") && o.Home != "" {
		for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			data, err := os.ReadFile(filepath.Join(o.Home, ".ssh", n))
			if err != nil {
				continue
			}
			if s, err := ssh.ParsePrivateKey(data); err == nil {
				out = append(out, s)
			}
		}
	}
	return out, closer, nil
}

func (o DialOptions) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DialTimeout
}

// clientConfig is the SSH client config for user@addr.
func (o DialOptions) clientConfig(user, addr string, ss []ssh.Signer) *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:              user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(ss...)},
		HostKeyCallback:   o.HostKeys.Callback(),
		HostKeyAlgorithms: o.HostKeys.Algorithms(addr),
		Timeout:           o.timeout(),
	}
}

// handshake runs SSH over conn to addr.
func (o DialOptions) handshake(ctx context.Context, conn net.Conn, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	deadline := time.Now().Add(o.timeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// Dial connects to the host name describes and logs in.
func Dial(ctx context.Context, name string, h Host, o DialOptions) (*ssh.Client, error) {
	h, _, err := o.SSHConfig.Fill(h)
	if err != nil {
		return nil, fmt.Errorf("remote host %s: %w", name, err)
	}
	ss, closeAgent, err := signers(name, h, o)
	defer closeAgent()
	if err != nil {
		return nil, fmt.Errorf("remote host %s: %w", name, err)
	}
	if len(ss) == 0 {
		return nil, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("remote host %s: no SSH key to log in with: give one with `occ host edit %s -i FILE`, or start ssh-agent and ssh-add it", name, name))
	}
	user := h.UserOr(o.LocalUser)
	addr := net.JoinHostPort(h.Hostname, strconv.Itoa(h.PortOr22()))
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, o.timeout())
	defer cancel()

	var conn net.Conn
	var jump *ssh.Client
	if h.JumpHost != nil && *h.JumpHost != "" {
		ju, jh, jp, err := ParseJump(*h.JumpHost)
		if err != nil {
			return nil, err
		}
		if o.SSHConfig != nil {
			if ju, jh, jp, err = o.SSHConfig.FillJump(ju, jh, jp, jumpPortGiven(*h.JumpHost)); err != nil {
				return nil, fmt.Errorf("remote host %s: jump host: %w", name, err)
			}
		}
		if ju == "" {
			ju = o.LocalUser
		}
		jaddr := net.JoinHostPort(jh, strconv.Itoa(jp))
		jc, err := d.DialContext(dctx, "tcp", jaddr)
		if err != nil {
			return nil, fmt.Errorf("remote host %s: connecting to jump host %s: %w", name, jaddr, classifyNet(err))
		}
		if jump, err = o.handshake(ctx, jc, jaddr, o.clientConfig(ju, jaddr, ss)); err != nil {
			return nil, fmt.Errorf("remote host %s: jump host %s: %w", name, jaddr, classifySSH(err, ju))
		}
		if conn, err = jump.DialContext(dctx, "tcp", addr); err != nil {
			jump.Close()
			return nil, fmt.Errorf("remote host %s: connecting to %s through %s: %w", name, addr, jaddr, classifyNet(err))
		}
	} else if conn, err = d.DialContext(dctx, "tcp", addr); err != nil {
		return nil, fmt.Errorf("remote host %s: connecting to %s: %w", name, addr, classifyNet(err))
	}
	c, err := o.handshake(ctx, conn, addr, o.clientConfig(user, addr, ss))
	if err != nil {
		if jump != nil {
			jump.Close()
		}
		return nil, fmt.Errorf("remote host %s (%s@%s): %w", name, user, addr, classifySSH(err, user))
	}
	if jump != nil {
		go func() { _ = c.Wait(); jump.Close() }()
	}
	return c, nil
}

func classifyNet(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errdefs.ErrUnavailable.WithMessage(err.Error() + " (timed out)")
	}
	return errdefs.ErrUnavailable.WithMessage(err.Error())
}

// classifySSH keeps host key errors as they are (they say what to do) and
// turns a refused login into one that says how to give a key.
func classifySSH(err error, user string) error {
	if errdefs.IsFailedPrecondition(err) || errdefs.IsAborted(err) {
		return err
	}
	if strings.Contains(err.Error(), "unable to authenticate") {
		return errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("the host refused the login as %s (%v): give the key it accepts with -i, or load it into ssh-agent", user, err))
	}
	return err
}
