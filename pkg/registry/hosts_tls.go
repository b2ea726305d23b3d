package registry

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/pelletier/go-toml/v2"
)

// TLSFiles are the TLS settings hosts.toml gives one endpoint, as file
// paths (absolute): what a BuildKit session's token fetches need.
type TLSFiles struct {
	CAs        []string    // ca: PEM files of CA certificates
	KeyPairs   [][2]string // client: certificate and key files
	SkipVerify bool        // skip_verify
}

// TLSFiles lists the TLS settings of every endpoint the certs.d
// directories configure, by endpoint host[:port]: each registry's own
// (under its name and its server's host) and each mirror's. A registry
// configured in several directories takes the first, as Lookup does;
// _default is left out (it names no host). A hosts.toml that does not
// parse is an error naming the file.
func (h *Hosts) TLSFiles() (map[string]TLSFiles, error) {
	out := map[string]TLSFiles{}
	if h == nil {
		return out, nil
	}
	seen := map[string]bool{}
	for _, root := range h.dirs {
		ents, err := os.ReadDir(root)
		if err != nil {
			return nil, fmt.Errorf("reading registry configuration in %s: %w", root, err)
		}
		for _, e := range ents {
			if !e.IsDir() || e.Name() == "_default" || seen[e.Name()] {
				continue
			}
			file := filepath.Join(root, e.Name(), "hosts.toml")
			b, err := os.ReadFile(file)
			if os.IsNotExist(err) {
				continue
			} else if err != nil {
				return nil, fmt.Errorf("reading registry configuration: %w", err)
			}
			seen[e.Name()] = true
			if err := hostsTLSFiles(out, dirHost(e.Name()), filepath.Dir(file), b); err != nil {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
					"registry configuration %s: %v: fix the file (containerd's hosts.toml format: https://github.com/containerd/containerd/blob/main/docs/hosts.md)", file, err))
			}
		}
	}
	return out, nil
}

// dirHost is the registry a certs.d directory is for ("_port_" is ":port").
func dirHost(d string) string {
	if i := strings.LastIndex(d, "_"); i > 0 && strings.HasSuffix(d, "_") {
		if j := strings.LastIndex(d[:len(d)-1], "_"); j > 0 {
			return d[:j] + ":" + d[j+1:len(d)-1]
		}
	}
	return d
}

type hostsFile struct {
	Server     string               `toml:"server"`
	CA         any                  `toml:"ca"`
	Client     any                  `toml:"client"`
	SkipVerify *bool                `toml:"skip_verify"`
	Host       map[string]hostsFile `toml:"host"`
}

func hostsTLSFiles(out map[string]TLSFiles, registry, dir string, b []byte) error {
	var f hostsFile
	if err := toml.Unmarshal(b, &f); err != nil {
		return err
	}
	own, err := f.tls(dir)
	if err != nil {
		return err
	}
	if own != nil {
		out[registry] = *own
		if registry == "docker.io" {
			out["registry-1.docker.io"] = *own
		}
		if f.Server != "" {
			if u, err := url.Parse(f.Server); err == nil && u.Host != "" {
				out[u.Host] = *own
			}
		}
	}
	urls := make([]string, 0, len(f.Host))
	for u := range f.Host {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	for _, raw := range urls {
		hf := f.Host[raw]
		t, err := hf.tls(dir)
		if err != nil {
			return fmt.Errorf("[host.%q]: %w", raw, err)
		}
		if t == nil {
			continue
		}
		host := raw
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			host = u.Host
		}
		out[host] = *t
	}
	return nil
}

// tls reads ca, client and skip_verify as containerd does: ca a path or
// a list; client a path, a [cert, key] pair or a list of either.
func (f hostsFile) tls(dir string) (*TLSFiles, error) {
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	var t TLSFiles
	switch ca := f.CA.(type) {
	case nil:
	case string:
		t.CAs = append(t.CAs, abs(ca))
	case []any:
		for _, c := range ca {
			s, ok := c.(string)
			if !ok {
				return nil, fmt.Errorf("ca: %v is not a file name", c)
			}
			t.CAs = append(t.CAs, abs(s))
		}
	default:
		return nil, fmt.Errorf("ca: %v is neither a file name nor a list of them", ca)
	}
	pair := func(v any) ([2]string, error) {
		switch c := v.(type) {
		case string:
			return [2]string{abs(c), ""}, nil
		case []any:
			if len(c) == 2 {
				cert, ok1 := c[0].(string)
				key, ok2 := c[1].(string)
				if ok1 && ok2 {
					return [2]string{abs(cert), abs(key)}, nil
				}
			}
		}
		return [2]string{}, fmt.Errorf("client: %v is neither a file name nor a [certificate, key] pair", v)
	}
	switch c := f.Client.(type) {
	case nil:
	case string:
		p, _ := pair(c)
		t.KeyPairs = append(t.KeyPairs, p)
	case []any:
		if len(c) == 0 {
			break
		}
		if _, isPair := c[0].(string); isPair {
			p, err := pair(c)
			if err != nil {
				return nil, err
			}
			t.KeyPairs = append(t.KeyPairs, p)
			break
		}
		for _, v := range c {
			p, err := pair(v)
			if err != nil {
				return nil, err
			}
			t.KeyPairs = append(t.KeyPairs, p)
		}
	default:
		return nil, fmt.Errorf("client: %v is neither a file name nor a [certificate, key] pair", c)
	}
	for i, p := range t.KeyPairs {
		if p[1] == "" { // one file holding the certificate and its key
			t.KeyPairs[i][1] = p[0]
		}
	}
	if f.SkipVerify != nil {
		t.SkipVerify = *f.SkipVerify
	}
	if len(t.CAs) == 0 && len(t.KeyPairs) == 0 && !t.SkipVerify {
		return nil, nil
	}
	return &t, nil
}
