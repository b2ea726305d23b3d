package remote

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// Confirmer asks a yes/no question on the terminal; without one it returns
// an error naming flag.
type Confirmer interface {
	Confirm(question string, def bool, flag string) (bool, error)
}

// HostKeys checks the keys SSH servers offer against known_hosts files, as
// OpenSSH does: a known key passes, a CHANGED key is always refused (with
// the file and line to fix), an unknown one is trusted on first use only
// when AcceptNew is set or the user says yes on a terminal, and is then
// recorded in Own.
type HostKeys struct {
	// Files are read in order (OpenSSH's ~/.ssh/known_hosts first); missing
	// ones are skipped.
	Files []string
	// Own is occ's own known_hosts file, where accepted keys are added (it is
	// read too).
	Own string
	// AcceptNew trusts an unknown key without asking (--accept-new-host-key).
	AcceptNew bool
	// Interactive says whether Prompt may ask.
	Interactive bool
	Prompt      Confirmer
	// Log gets one line for each key accepted.
	Log io.Writer
}

// NewHostKeys checks against ~/.ssh/known_hosts (when home is known) and
// occ's own file.
func NewHostKeys(p meta.Paths, home string) *HostKeys {
	k := &HostKeys{Own: KnownHostsFile(p)}
	if home != "" {
		k.Files = append(k.Files, home+"/.ssh/known_hosts")
	}
	return k
}

func (k *HostKeys) files() []string {
	var out []string
	for _, f := range append(append([]string{}, k.Files...), k.Own) {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err == nil {
			out = append(out, f)
		}
	}
	return out
}

// known is the knownhosts callback over the files that exist (nil: none).
func (k *HostKeys) known() (ssh.HostKeyCallback, error) {
	files := k.files()
	if len(files) == 0 {
		return nil, nil
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("reading known_hosts (%s): %w", strings.Join(files, ", "), err)
	}
	return cb, nil
}

// probeKey is a key no host has: checking it lists the keys known for a
// host (knownhosts.KeyError.Want).
var probeKey = func() ssh.PublicKey {
	pk, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public())
	if err != nil {
		return nil
	}
	return pk
}()

// Algorithms are the host key algorithms to ask addr for: those of the keys
// known for it (so that a host with a known RSA key is not taken for a
// changed one when it offers ed25519 first), or nil (the library's
// defaults) when none is known.
func (k *HostKeys) Algorithms(addr string) []string {
	cb, err := k.known()
	if cb == nil || err != nil || probeKey == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if err := cb(addr, &net.TCPAddr{IP: net.IPv4zero}, probeKey); !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			algos = append(algos, a)
		}
	}
	for _, w := range ke.Want {
		switch t := w.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512)
			add(ssh.KeyAlgoRSASHA256)
			add(ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

// Callback is the ssh.HostKeyCallback for one connection.
func (k *HostKeys) Callback() ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		cb, err := k.known()
		if err != nil {
			return err
		}
		if cb != nil {
			err := cb(hostname, remote, key)
			if err == nil {
				return nil
			}
			var ke *knownhosts.KeyError
			if !errors.As(err, &ke) {
				return fmt.Errorf("checking the host key of %s: %w", hostname, err)
			}
			if len(ke.Want) > 0 {
				return changedKeyError(hostname, key, ke.Want[0])
			}
		}
		return k.unknown(hostname, key)
	}
}

func changedKeyError(hostname string, key ssh.PublicKey, want knownhosts.KnownKey) error {
	host := knownhosts.Normalize(hostname)
	return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
		"REMOTE HOST KEY CHANGED for %s: it offered %s %s, but %s line %d has %s %s. "+
			"Someone may be intercepting the connection, or the host was reinstalled. Refused. "+
			"If you know the new key is right, delete line %d of %s (ssh-keygen -R '%s' -f %s) and connect again",
		host, key.Type(), ssh.FingerprintSHA256(key), want.Filename, want.Line, want.Key.Type(), ssh.FingerprintSHA256(want.Key),
		want.Line, want.Filename, host, want.Filename))
}

func (k *HostKeys) unknown(hostname string, key ssh.PublicKey) error {
	host := knownhosts.Normalize(hostname)
	fp := ssh.FingerprintSHA256(key)
	if !k.AcceptNew {
		if !k.Interactive || k.Prompt == nil {
			return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
				"the host key of %s is not known (%s %s) and occ is not on a terminal to ask: "+
					"check the fingerprint with the host's owner, then pass --accept-new-host-key (it is recorded in %s), "+
					"or add the key to ~/.ssh/known_hosts", host, key.Type(), fp, k.Own))
		}
		q := fmt.Sprintf("The authenticity of host %s can't be established.\n%s key fingerprint is %s.\nTrust this key and connect (it is recorded in %s)?",
			host, key.Type(), fp, k.Own)
		ok, err := k.Prompt.Confirm(q, false, "--accept-new-host-key")
		if err != nil {
			return err
		}
		if !ok {
			return errdefs.ErrAborted.WithMessage(fmt.Sprintf("host key of %s not trusted: nothing done", host))
		}
	}
	if err := k.record(host, key); err != nil {
		return err
	}
	if k.Log != nil {
		fmt.Fprintf(k.Log, "Trusted the host key of %s (%s %s), recorded in %s\n", host, key.Type(), fp, k.Own)
	}
	return nil
}

// record adds host's key to occ's own known_hosts file (rewritten
// atomically, mode 0600).
func (k *HostKeys) record(host string, key ssh.PublicKey) error {
	old, err := os.ReadFile(k.Own)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", k.Own, err)
	}
	if len(old) > 0 && old[len(old)-1] != '\n' {
		old = append(old, '\n')
	}
	data := append(old, knownhosts.Line([]string{host}, key)+"\n"...)
	if err := meta.WriteFileAtomic(k.Own, data, 0o600); err != nil {
		return fmt.Errorf("recording the host key of %s: %w", host, err)
	}
	return nil
}
