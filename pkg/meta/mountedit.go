package meta

import (
	"fmt"
	"path/filepath"
	"strings"
)

// forceTargets are container paths a mount may sit under only with
// `occ mount add --force`: the image's system trees, where a mount hides
// what the sandbox ships (upstream's list). The parts of them ParseMount
// refuses outright (/etc, /usr/bin, /lib, …) stay refused.
var forceTargets = []string{"/etc", "/usr", "/bin", "/sbin", "/lib", "/var"}

// MountNeedsForce reports whether a mount's container path is under one of
// the system trees that `occ mount add` takes only with --force.
func MountNeedsForce(m Mount) bool {
	for _, d := range forceTargets {
		if under(m.Target, d) {
			return true
		}
	}
	return false
}

// MountChange says what UpsertMount did.
type MountChange string

const (
	MountAdded     MountChange = "added"
	MountUnchanged MountChange = "unchanged" // the same mount was configured already
	MountReplaced  MountChange = "replaced"  // another mount had the same container path
)

// UpsertMount puts m into the configured mounts list, keyed by container
// path: a mount with the same target is replaced (replaced names it; every
// further one with that target is dropped), an identical one is left as
// it is, otherwise m is appended. Entries that do not parse are kept as
// they are (config validation reports them). list is not modified.
func UpsertMount(list []string, m Mount) (out []string, change MountChange, replaced []string) {
	out = make([]string, 0, len(list)+1)
	change = MountAdded
	for _, s := range list {
		old, err := ParseMount(s)
		if err != nil || old.Target != m.Target {
			out = append(out, s)
			continue
		}
		switch {
		case change != MountAdded:
			// A second entry for the target: the first place holds m already.
			if old != m {
				replaced = append(replaced, s)
			}
		case old == m:
			change = MountUnchanged
			out = append(out, m.String())
		default:
			change = MountReplaced
			replaced = append(replaced, s)
			out = append(out, m.String())
		}
	}
	if change == MountUnchanged && len(replaced) > 0 {
		change = MountReplaced
	}
	if change == MountAdded {
		out = append(out, m.String())
	}
	return out, change, replaced
}

// RemoveMounts drops every configured mount whose host path is hostPath
// (compared cleaned, as ParseMount stores them). It returns the rest and
// the removed entries; list is not modified.
func RemoveMounts(list []string, hostPath string) (out, removed []string) {
	want := filepath.Clean(hostPath)
	for _, s := range list {
		if m, err := ParseMount(s); err == nil && m.Source == want {
			removed = append(removed, s)
			continue
		}
		if src, _, _ := strings.Cut(s, ":"); src == hostPath {
			removed = append(removed, s) // an entry that no longer parses
			continue
		}
		out = append(out, s)
	}
	return out, removed
}

// cleanRefused are trees no mount directory in them is ever emptied or
// removed from: the system's programs and libraries, and other software's
// state, logs and caches.
var cleanRefused = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/var/lib", "/var/log", "/var/cache", "/var/spool"}

// CheckCleanable refuses to empty or delete a directory occ must never
// remove: /, a top-level directory (/home, /tmp, /var, …), a home
// directory (/home/NAME, home) or one above it, the host's system paths
// (refusedSources, cleanRefused), and occ's own directories or one
// holding them. dir must be absolute and already resolved (symlinks
// followed); home and own may be empty.
func CheckCleanable(dir, home string, own ...string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("%s is not an absolute path", dir)
	}
	dir = filepath.Clean(dir)
	if dir == "/" || filepath.Dir(dir) == "/" {
		return fmt.Errorf("refusing to clean %s: it is / or a top-level directory", dir)
	}
	if err := checkSource(dir); err != nil {
		return fmt.Errorf("refusing to clean %s: %w", dir, err)
	}
	for _, r := range cleanRefused {
		if under(dir, r) {
			return fmt.Errorf("refusing to clean %s: it is inside %s, the system's or other software's files", dir, r)
		}
	}
	if filepath.Dir(dir) == "/home" {
		return fmt.Errorf("refusing to clean %s: it is a home directory", dir)
	}
	if home != "" {
		if h := filepath.Clean(home); under(h, dir) {
			return fmt.Errorf("refusing to clean %s: it is the home directory %s or holds it", dir, h)
		}
	}
	for _, o := range own {
		if o == "" {
			continue
		}
		o = filepath.Clean(o)
		if under(dir, o) || under(o, dir) {
			return fmt.Errorf("refusing to clean %s: it is, holds or is inside occ's own directory %s", dir, o)
		}
	}
	return nil
}

// MountTarget is the container path of a mount spec ("" when it has none).
func MountTarget(spec string) string {
	if m, err := ParseMount(spec); err == nil {
		return m.Target
	}
	return ""
}
