package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// HostsVersion is the hosts file's schema version (upstream's).
const HostsVersion = 1

// DefaultPort is SSH's port, used when a host names none.
const DefaultPort = 22

// DefaultOccPath is where occ is looked for on a remote host when it is not
// on the remote's PATH, and where it is installed.
const DefaultOccPath = "~/.local/bin/occ"

// Host is one remote host: how to reach it over SSH. The fields are
// upstream's (hosts.json), OccPath is occ's own.
type Host struct {
	Hostname     string   `json:"hostname"`
	User         *string  `json:"user"`
	Port         *int     `json:"port"`
	IdentityFile *string  `json:"identity_file"`
	JumpHost     *string  `json:"jump_host"`
	Groups       []string `json:"groups"`
	Description  *string  `json:"description"`
	// OccPath is the remote occ to run (and where to install it); empty: the
	// occ on the remote's PATH, else DefaultOccPath.
	OccPath string `json:"occ_path,omitempty"`
}

// Hosts is the hosts file.
type Hosts struct {
	Version     int             `json:"version"`
	DefaultHost *string         `json:"default_host"`
	Hosts       map[string]Host `json:"hosts"`
}

// HostsFile is the hosts file in occ's config directory.
func HostsFile(p meta.Paths) string { return filepath.Join(p.ConfigDir(), "hosts.json") }

// KnownHostsFile is occ's own known_hosts file (read after
// ~/.ssh/known_hosts; the keys occ accepted on first use are added here).
func KnownHostsFile(p meta.Paths) string { return filepath.Join(p.ConfigDir(), "known_hosts") }

// NewHosts is an empty hosts file.
func NewHosts() *Hosts { return &Hosts{Version: HostsVersion, Hosts: map[string]Host{}} }

var nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ValidateName checks a host's name: letters, digits, '.', '_' and '-',
// starting with a letter or digit; "local" is reserved (occ host default
// local clears the default).
func ValidateName(name string) error {
	if name == "local" {
		return errdefs.ErrInvalidArgument.WithMessage(`"local" is reserved (it means this machine): choose another name`)
	}
	if !nameRe.MatchString(name) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid host name %q: use letters, digits, '.', '_' and '-' (at most 63, starting with a letter or digit)", name))
	}
	return nil
}

// Validate checks a host entry.
func (h Host) Validate() error {
	if h.Hostname == "" || bytes.ContainsAny([]byte(h.Hostname), " \t\r\n/@") {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid hostname %q: give a host name or address (the user goes in -u, the port in -p)", h.Hostname))
	}
	if h.Port != nil && (*h.Port < 1 || *h.Port > 65535) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid port %d: use 1-65535", *h.Port))
	}
	if h.User != nil && (*h.User == "" || bytes.ContainsAny([]byte(*h.User), " \t\r\n@:")) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid user %q", *h.User))
	}
	if h.JumpHost != nil && *h.JumpHost != "" {
		if _, _, _, err := ParseJump(*h.JumpHost); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks the whole file.
func (hs *Hosts) Validate() error {
	if hs.Version != HostsVersion {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unsupported hosts file version %d (this occ reads version %d)", hs.Version, HostsVersion))
	}
	for name, h := range hs.Hosts {
		if err := ValidateName(name); err != nil {
			return fmt.Errorf("host %q: %w", name, err)
		}
		if err := h.Validate(); err != nil {
			return fmt.Errorf("host %q: %w", name, err)
		}
	}
	if hs.DefaultHost != nil {
		if _, ok := hs.Hosts[*hs.DefaultHost]; !ok {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("default_host %q is not a configured host: run `occ host default local` or add it", *hs.DefaultHost))
		}
	}
	return nil
}

// LoadHosts reads the hosts file; a missing file is an empty one. Unknown
// fields are refused, as upstream refuses them.
func LoadHosts(path string) (*Hosts, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return NewHosts(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read hosts file: %w", err)
	}
	hs := NewHosts()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(hs); err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("hosts file %s: %v (fix the file, or remove it to start again)", path, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("hosts file %s: data after the JSON object", path))
	}
	if hs.Hosts == nil {
		hs.Hosts = map[string]Host{}
	}
	if err := hs.Validate(); err != nil {
		return nil, fmt.Errorf("hosts file %s: %w", path, err)
	}
	return hs, nil
}

// SaveHosts writes the hosts file atomically (0600): a reader sees the old
// file or the new one.
func SaveHosts(path string, hs *Hosts) error {
	if err := hs.Validate(); err != nil {
		return err
	}
	for n, h := range hs.Hosts {
		if h.Groups == nil { // [] as upstream writes it, not null
			h.Groups = []string{}
			hs.Hosts[n] = h
		}
	}
	data, err := json.MarshalIndent(hs, "", "  ")
	if err != nil {
		return fmt.Errorf("encode hosts file: %w", err)
	}
	return meta.WriteFileAtomic(path, append(data, '\n'), 0o600)
}

// Get returns the named host, or a not-found error saying how to list them.
func (hs *Hosts) Get(name string) (Host, error) {
	h, ok := hs.Hosts[name]
	if !ok {
		return Host{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("no remote host %q: `occ host list` shows the configured ones, `occ host add` adds one", name))
	}
	return h, nil
}

// Names are the hosts' names, sorted; with group set, only that group's.
func (hs *Hosts) Names(group string) []string {
	var names []string
	for n, h := range hs.Hosts {
		if group == "" || slices.Contains(h.Groups, group) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Default is the default host's name ("" for this machine).
func (hs *Hosts) Default() string {
	if hs.DefaultHost == nil {
		return ""
	}
	return *hs.DefaultHost
}

// UserOr is the host's user, or def.
func (h Host) UserOr(def string) string {
	if h.User != nil && *h.User != "" {
		return *h.User
	}
	return def
}

// PortOr22 is the host's port, or SSH's.
func (h Host) PortOr22() int {
	if h.Port != nil {
		return *h.Port
	}
	return DefaultPort
}

// Str is s as an optional string (nil when empty).
func Str(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
