package remote

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/crypto/ssh"
)

// InstallPolicy says whether and how occ may be installed on a host that
// lacks it (or has an older one).
type InstallPolicy struct {
	// Yes installs without asking (--yes).
	Yes         bool
	Interactive bool
	Prompt      Confirmer
	// Exe is this occ's binary, copied when the platforms match.
	Exe           string
	LocalVersion  string
	LocalPlatform string
	// Log gets a line for what was done.
	Log io.Writer
}

// Conn is a logged-in connection to a named host and the occ found there.
type Conn struct {
	Name   string
	Host   Host
	Client *ssh.Client
	Occ    RemoteOcc
	// Installed says occ was installed (or updated) on the host by Open.
	Installed bool
}

// Close ends the connection.
func (c *Conn) Close() error { return c.Client.Close() }

// Open connects to the host, finds occ there, and installs this occ there
// when it is missing or older (as p allows).
func Open(ctx context.Context, name string, h Host, o DialOptions, p InstallPolicy) (*Conn, error) {
	c, err := Connect(ctx, name, h, o)
	if err != nil {
		return nil, err
	}
	if err := c.Ensure(ctx, p); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Connect connects to the host (its host key checked) and finds occ there.
func Connect(ctx context.Context, name string, h Host, o DialOptions) (*Conn, error) {
	cl, err := Dial(ctx, name, h, o)
	if err != nil {
		return nil, err
	}
	c := &Conn{Name: name, Host: h, Client: cl}
	if c.Occ, err = Probe(ctx, cl, h.OccPath); err != nil {
		cl.Close()
		return nil, fmt.Errorf("remote host %s: %w", name, err)
	}
	return c, nil
}

// NeedsInstall is whether Ensure would offer to install occ: it is missing,
// or an older one occ installed itself.
func (c *Conn) NeedsInstall(localVersion string) bool {
	return !c.Occ.Found || (Older(c.Occ.Version, localVersion) && c.ours(c.Occ.Path))
}

// installPath is where occ goes on the host: the configured path, else
// DefaultOccPath.
func (c *Conn) installPath() string {
	if c.Host.OccPath != "" {
		return c.Host.OccPath
	}
	return DefaultOccPath
}

// ours is whether path (as the remote shell expanded it) is where occ
// installs itself there, so that updating it replaces nothing else's.
func (c *Conn) ours(path string) bool {
	want := c.installPath()
	if rest, ok := strings.CutPrefix(want, "~/"); ok {
		want = strings.TrimSuffix(c.Occ.Home, "/") + "/" + rest
	}
	return path == want
}

// Ensure installs this occ on the host when occ is missing there, or is an
// older one occ installed (at its install path), as p allows; an older occ
// installed otherwise (a package) only gets a warning.
func (c *Conn) Ensure(ctx context.Context, p InstallPolicy) error {
	r := c.Occ
	var what string
	switch {
	case !r.Found:
		what = fmt.Sprintf("occ is not installed on %s (looked on PATH and at %s)", c.Name, c.installPath())
	case Older(r.Version, p.LocalVersion):
		if !c.ours(r.Path) {
			if p.Log != nil {
				fmt.Fprintf(p.Log, "Warning: occ %s on %s (%s) is older than this occ %s; update it there, or set `occ host edit %s --occ-path %s` to let occ install its own\n",
					r.Version, c.Name, r.Path, p.LocalVersion, c.Name, DefaultOccPath)
			}
			return nil
		}
		what = fmt.Sprintf("occ %s on %s (%s) is older than this occ %s", r.Version, c.Name, r.Path, p.LocalVersion)
	default:
		return nil
	}
	plat := r.Platform()
	if plat != p.LocalPlatform {
		return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("%s, and this occ cannot be copied there: it is %s, the host is %q (%s). Install occ %s on the host (see the README's Install) and try again",
			what, p.LocalPlatform, r.Uname, orUnknown(plat), p.LocalVersion))
	}
	dest := c.installPath()
	if !p.Yes {
		q := fmt.Sprintf("%s. Copy this occ %s (%s) to %s there?", what, p.LocalVersion, p.LocalPlatform, dest)
		if !p.Interactive || p.Prompt == nil {
			return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("%s: pass --yes to copy this occ %s to %s there, or install it yourself", what, p.LocalVersion, dest))
		}
		ok, err := p.Prompt.Confirm(q, true, "--yes")
		if err != nil {
			return err
		}
		if !ok {
			return errdefs.ErrAborted.WithMessage(what + ": not installed, nothing done")
		}
	}
	f, err := os.Open(p.Exe)
	if err != nil {
		return fmt.Errorf("reading this occ's binary: %w", err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if err := Install(ctx, c.Client, f, dest); err != nil {
		return fmt.Errorf("remote host %s: %w", c.Name, err)
	}
	after, err := Probe(ctx, c.Client, dest)
	if err != nil {
		return fmt.Errorf("remote host %s: %w", c.Name, err)
	}
	if !after.Found || after.Version != p.LocalVersion {
		return errdefs.ErrUnknown.WithMessage(fmt.Sprintf("remote host %s: occ copied to %s, but it reports version %q, not %s", c.Name, dest, after.Version, p.LocalVersion))
	}
	c.Occ, c.Installed = after, true
	if p.Log != nil {
		size := int64(0)
		if st != nil {
			size = st.Size()
		}
		fmt.Fprintf(p.Log, "Installed occ %s on %s: copied this binary (%.1f MB, %s) to %s\n",
			p.LocalVersion, c.Name, float64(size)/1e6, p.LocalPlatform, after.Path)
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown platform"
	}
	return s
}

// Run runs the remote occ with o.
func (c *Conn) Run(ctx context.Context, o RunOptions) (int, error) {
	return Run(ctx, c.Client, c.Occ.Path, o)
}

// ForwardedArgs are occ's arguments for the remote occ: all of them but the
// flags that choose the target and the host key policy, which are this
// occ's.
func ForwardedArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case a == "--remote-host":
			i++
		case strings.HasPrefix(a, "--remote-host="), a == "--local", a == "--accept-new-host-key":
		default:
			out = append(out, a)
		}
	}
	return out
}
