package meta

import (
	"fmt"
	"path/filepath"
	"strings"
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

// ParseMount parses /host:/container[:ro|rw]. Both paths must be absolute
// and clean of ".." components; the mode defaults to rw. Whether the host
// path exists is checked when the container is created, not here.
func ParseMount(s string) (Mount, error) {
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
				return Mount{}, fmt.Errorf("mount %q: the %s must not contain ..", s, p.what)
			}
		}
	}
	m.Source, m.Target = filepath.Clean(m.Source), filepath.Clean(m.Target)
	if m.Target == "/" {
		return Mount{}, fmt.Errorf("mount %q: cannot mount over the container's /", s)
	}
	return m, nil
}
