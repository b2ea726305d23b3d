package meta

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// Mount is a bind mount from the config: /host:/container[:ro|rw].
type Mount struct {
	Source   string
	Target   string
	ReadOnly bool
}

func (m Mount) String() string {
	s := m.Source + ":" + m.Target
	if m.ReadOnly {
		s += ":ro"
	}
	return s
}

// RunContainerDir is the sandbox's own volatile directory (the gateway's
// generated config, its sockets and login cache). The entrypoint empties
// it at every start, so nothing may be mounted on it or above it.
const RunContainerDir = "/run/" + AppName

// refusedSources are host paths that never go into the sandbox, with
// everything under them: the host's kernel interfaces, devices and
// configuration, and containerd's own state (a way out of the container).
var refusedSources = []string{
	"/proc", "/sys", "/dev", "/etc", "/boot",
	"/run/containerd", "/var/run/containerd", "/var/lib/containerd", "/run/runc", "/run/" + AppName,
}

// refusedTargets are container paths a mount may not cover, replace or sit
// under: the kernel's and the image's system directories, and what the
// sandbox itself runs from (its entrypoint, gateway, PAM and run state).
var refusedTargets = []string{
	"/proc", "/sys", "/dev", "/etc", RunContainerDir,
	"/usr/local/bin/opencode-cloud-entrypoint", "/usr/local/sbin/opencode-cloud-users",
	"/usr/share/opencode-cloud", "/usr/bin", "/usr/sbin", "/usr/lib", "/bin", "/sbin", "/lib", "/lib64",
}

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// ParseMount parses /host:/container[:ro|rw]. Both paths must be absolute,
// free of ".." components and of control characters (a newline would split
// the spec wherever it is written out); the mode defaults to rw. The host
// path may not be / or one of the host's system paths (refusedSources),
// and the container path may not be /, a system path or a path the
// sandbox runs from (refusedTargets). Whether the host path exists, what
// its symlinks resolve to and whether it holds occ's own data are checked
// when the container is created (CheckMountSource), not here.
func ParseMount(s string) (Mount, error) {
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return Mount{}, fmt.Errorf("mount %q contains a control character (%q at byte %d): write it on one line, without tabs or newlines", s, s[i], i)
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Mount{}, fmt.Errorf("mount %q must look like /host/path:/container/path[:ro|rw]", s)
	}
	m := Mount{Source: parts[0], Target: parts[1]}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			m.ReadOnly = true
		case "rw":
		default:
			return Mount{}, fmt.Errorf("mount %q: mode must be ro or rw, got %q", s, parts[2])
		}
	}
	for _, p := range []struct{ what, path string }{{"host path", m.Source}, {"container path", m.Target}} {
		if !filepath.IsAbs(p.path) {
			return Mount{}, fmt.Errorf("mount %q: the %s must be absolute", s, p.what)
		}
		for _, el := range strings.Split(p.path, "/") {
			if el == ".." {
				return Mount{}, fmt.Errorf("mount %q: the %s must not contain a \"..\" element", s, p.what)
			}
		}
	}
	m.Source, m.Target = filepath.Clean(m.Source), filepath.Clean(m.Target)
	if m.Target == "/" {
		return Mount{}, fmt.Errorf("mount %q: cannot mount over the container's /", s)
	}
	if err := checkSource(m.Source); err != nil {
		return Mount{}, fmt.Errorf("mount %q: %w", s, err)
	}
	for _, r := range refusedTargets {
		if under(m.Target, r) || under(r, m.Target) {
			return Mount{}, fmt.Errorf("mount %q: the container path %s would cover %s, which the sandbox needs for itself: mount somewhere else, such as under /home/opencoder/workspace", s, m.Target, r)
		}
	}
	return m, nil
}

// checkSource refuses / and the host's system paths as a mount's host path.
func checkSource(src string) error {
	if src == "/" {
		return errors.New("the host path is /, the whole host: mount the one directory the sandbox needs")
	}
	for _, r := range refusedSources {
		if under(src, r) {
			return fmt.Errorf("the host path %s is under %s, which never goes into the sandbox (the host's system files or containerd's state): mount a directory of your own", src, r)
		}
	}
	return nil
}

// CheckMountSource checks a parsed mount's host path against the host as it
// is: the path must exist and be a directory, its symlinks must not lead to
// a refused path, and it must neither be inside one of occ's own
// directories (dataDir: the volumes with the login users' password
// hashes, the state; configDir) nor contain one. The error says what to do.
func CheckMountSource(m Mount, dataDir, configDir string) error {
	st, err := os.Stat(m.Source)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("mount %s: host directory %s does not exist; create it, or remove the mount from `mounts` (occ config set mounts …)", m, m.Source)
	case err != nil:
		return fmt.Errorf("mount %s: cannot check host directory %s: %w", m, m.Source, err)
	case !st.IsDir():
		return fmt.Errorf("mount %s: %s is not a directory; only directories can be mounted", m, m.Source)
	}
	real, err := filepath.EvalSymlinks(m.Source)
	if err != nil {
		return fmt.Errorf("mount %s: resolve %s: %w", m, m.Source, err)
	}
	if err := checkSource(real); err != nil {
		return fmt.Errorf("mount %s: %s leads to %s: %w", m, m.Source, real, err)
	}
	for _, own := range []struct{ what, dir string }{{"data directory", dataDir}, {"config directory", configDir}} {
		if own.dir == "" {
			continue
		}
		d := filepath.Clean(own.dir)
		if r, err := filepath.EvalSymlinks(d); err == nil {
			d = r
		}
		if under(real, d) || under(d, real) {
			return fmt.Errorf("mount %s: %s holds occ's %s %s (login users' password hashes, state): the sandbox must not reach it; mount a directory that does not contain it", m, m.Source, own.what, own.dir)
		}
	}
	return nil
}
