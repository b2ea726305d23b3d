package remote

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	sshconfig "github.com/kevinburke/ssh_config"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// The ssh_config(5) keywords a host's fields are filled from, in the order
// they are reported.
const (
	KeyHostName     = "HostName"
	KeyUser         = "User"
	KeyPort         = "Port"
	KeyIdentityFile = "IdentityFile"
	KeyProxyJump    = "ProxyJump"
)

// SSHConfigFile is the user's OpenSSH client config, ~/.ssh/config.
func SSHConfigFile(home string) string { return filepath.Join(home, ".ssh", "config") }

// SSHConfig is an ssh_config(5) file read (kevinburke/ssh_config: Host and
// Match Host/all blocks, wildcards and negation, Include): the values ssh(1)
// would take for a host alias. A missing file is an empty one.
type SSHConfig struct {
	Path string
	// Home expands ~ and %d; LocalUser is %u.
	Home, LocalUser string
	cfg             *sshconfig.Config // nil: no file
}

// LoadSSHConfig reads the ssh config at path; a missing file reads as
// empty. A file the parser refuses (Match Exec, a syntax error) is an
// invalid-argument error naming the file.
func LoadSSHConfig(path, home, localUser string) (c *SSHConfig, err error) {
	c = &SSHConfig{Path: path, Home: home, LocalUser: localUser}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	defer func() { // the parser panics on some runtime errors: never let it end occ
		if r := recover(); r != nil {
			c, err = nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("ssh config %s: %v", path, r))
		}
	}()
	if c.cfg, err = sshconfig.DecodeBytes(data); err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("ssh config %s: %v", path, err))
	}
	return c, nil
}

// get is the first value of key for alias ("" when none, or "none").
func (c *SSHConfig) get(alias, key string) (string, error) {
	if c == nil || c.cfg == nil {
		return "", nil
	}
	v, err := c.cfg.Get(alias, key)
	if err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("ssh config %s: %v", c.Path, err))
	}
	if strings.EqualFold(v, "none") && key != KeyHostName && key != KeyUser {
		return "", nil
	}
	return v, nil
}

// expand replaces ssh_config's tokens %% %d %h %r %u, and a leading ~.
func (c *SSHConfig) expand(v, host, user string) string {
	r := strings.NewReplacer("%%", "%", "%d", c.Home, "%h", host, "%r", user, "%u", c.LocalUser)
	return r.Replace(v)
}

// Fill returns h with the fields it leaves empty taken from the ssh config's
// block(s) for the alias h.Hostname, as ssh(1) takes them for `ssh ALIAS`:
// the first value given wins, fields h sets win over the file. It returns
// the keywords it took, in KeyHostName … KeyProxyJump order. An
// IdentityFile that does not exist is passed over, as ssh(1) does.
func (c *SSHConfig) Fill(h Host) (Host, []string, error) {
	if c == nil || c.cfg == nil {
		return h, nil, nil
	}
	alias := h.Hostname
	var took []string
	v, err := c.get(alias, KeyHostName)
	if err != nil {
		return h, nil, err
	}
	if v = c.expand(v, alias, ""); v != "" && v != alias {
		h.Hostname = v
		took = append(took, KeyHostName)
	}
	if h.User == nil {
		if v, err = c.get(alias, KeyUser); err != nil {
			return h, nil, err
		}
		if v = c.expand(v, h.Hostname, ""); v != "" {
			h.User = Str(v)
			took = append(took, KeyUser)
		}
	}
	if h.Port == nil {
		if v, err = c.get(alias, KeyPort); err != nil {
			return h, nil, err
		}
		if v != "" {
			p, err := strconv.Atoi(v)
			if err != nil || p < 1 || p > 65535 {
				return h, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("ssh config %s: Port %q for %s: use 1-65535", c.Path, v, alias))
			}
			h.Port = &p
			took = append(took, KeyPort)
		}
	}
	if h.IdentityFile == nil {
		all, err := c.cfg.GetAll(alias, KeyIdentityFile)
		if err != nil {
			return h, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("ssh config %s: %v", c.Path, err))
		}
		for _, f := range all {
			if strings.EqualFold(f, "none") {
				break
			}
			f = c.expand(f, h.Hostname, h.UserOr(c.LocalUser))
			if _, err := os.Stat(expandHome(f, c.Home)); err == nil {
				h.IdentityFile = &f
				took = append(took, KeyIdentityFile)
				break
			}
		}
	}
	if h.JumpHost == nil {
		if v, err = c.get(alias, KeyProxyJump); err != nil {
			return h, nil, err
		}
		if v != "" {
			if strings.Contains(v, ",") {
				return h, nil, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("ssh config %s: ProxyJump %q for %s: occ goes through one jump host; give it with -J", c.Path, v, alias))
			}
			v = strings.TrimPrefix(v, "ssh://")
			if _, _, _, err := ParseJump(v); err != nil {
				return h, nil, fmt.Errorf("ssh config %s: ProxyJump for %s: %w", c.Path, alias, err)
			}
			h.JumpHost = Str(v)
			took = append(took, KeyProxyJump)
		}
	}
	return h, took, nil
}

// FillJump resolves a jump host's alias as ssh(1) does for ProxyJump: its
// HostName, User and Port from the file where the jump host gives none.
func (c *SSHConfig) FillJump(user, host string, port int, portGiven bool) (string, string, int, error) {
	j := Host{Hostname: host, User: Str(user), JumpHost: Str("none"), IdentityFile: Str("none")}
	if portGiven {
		j.Port = &port
	}
	j, _, err := c.Fill(j)
	if err != nil {
		return "", "", 0, err
	}
	return j.UserOr(""), j.Hostname, j.PortOr22(), nil
}

// HasBlock reports whether the file has a Host (or Match Host) line naming
// alias itself (not a wildcard that matches it).
func (c *SSHConfig) HasBlock(alias string) bool {
	if c == nil || c.cfg == nil {
		return false
	}
	for _, b := range c.cfg.Hosts {
		for _, p := range b.Patterns {
			if strings.EqualFold(p.String(), alias) {
				return true
			}
		}
	}
	return false
}

// SSHConfigBlock is the Host block for alias that reaches h.
func SSHConfigBlock(alias string, h Host) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Host %s\n    HostName %s\n", alias, h.Hostname)
	if h.User != nil && *h.User != "" {
		fmt.Fprintf(&b, "    User %s\n", *h.User)
	}
	if h.Port != nil {
		fmt.Fprintf(&b, "    Port %d\n", *h.Port)
	}
	if h.IdentityFile != nil && *h.IdentityFile != "" {
		fmt.Fprintf(&b, "    IdentityFile %s\n", quoteSSHConfig(*h.IdentityFile))
	}
	if h.JumpHost != nil && *h.JumpHost != "" {
		fmt.Fprintf(&b, "    ProxyJump %s\n", *h.JumpHost)
	}
	return b.String()
}

func quoteSSHConfig(s string) string {
	if strings.ContainsAny(s, " \t") {
		return `"` + s + `"`
	}
	return s
}

// AppendSSHConfigBlock appends the Host block for alias reaching h to the
// ssh config (created 0600, ~/.ssh 0700, when missing) atomically: the file
// is the old one or the old one plus the block, existing blocks untouched.
// It refuses, changing nothing, when a block for alias exists or the file
// cannot be parsed. It returns the keywords of the new block that an
// earlier block overrides for alias (ssh(1) takes the first value).
func AppendSSHConfigBlock(path, home, alias string, h Host) ([]string, error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real // a linked ~/.ssh/config (dotfiles) stays a link
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	mode := os.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	cur, err := LoadSSHConfig(path, home, "")
	if err != nil {
		return nil, fmt.Errorf("%w (not written: add the Host block yourself)", err)
	}
	if cur.HasBlock(alias) {
		return nil, errdefs.ErrAlreadyExists.WithMessage(fmt.Sprintf("%s already has a Host block for %s: not written (edit that block, or drop --write-ssh-config)", path, alias))
	}
	data := append([]byte{}, old...)
	if len(data) > 0 {
		if data[len(data)-1] != '\n' {
			data = append(data, '\n')
		}
		data = append(data, '\n')
	}
	data = append(data, "# Added by occ host add\n"+SSHConfigBlock(alias, h)...)
	next, err := sshconfig.DecodeBytes(data)
	if err != nil {
		return nil, fmt.Errorf("ssh config block for %s: %w", alias, err)
	}
	if err := meta.WriteFileAtomic(path, data, mode); err != nil {
		return nil, err
	}
	// What ssh(1) will now take for alias, against what the block says.
	got, _, _ := (&SSHConfig{Path: path, Home: home, cfg: next}).Fill(Host{Hostname: alias})
	var shadowed []string
	if got.Hostname != h.Hostname {
		shadowed = append(shadowed, KeyHostName)
	}
	if h.User != nil && got.UserOr("") != *h.User {
		shadowed = append(shadowed, KeyUser)
	}
	if h.Port != nil && got.PortOr22() != *h.Port {
		shadowed = append(shadowed, KeyPort)
	}
	if h.JumpHost != nil && *h.JumpHost != "" && (got.JumpHost == nil || *got.JumpHost != *h.JumpHost) {
		shadowed = append(shadowed, KeyProxyJump)
	}
	return shadowed, nil
}
