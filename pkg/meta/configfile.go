package meta

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/tailscale/hujson"
)

// MaxConfigSize bounds what occ reads as a config file. Real configs are a
// few KiB; a megabyte leaves room for long lists and comments while
// `--config /dev/zero` (or a huge file) fails at once instead of eating
// memory.
const MaxConfigSize = 1 << 20

// readConfigFile reads the config at path. Only a regular file (or a
// symlink to one) is read, and at most MaxConfigSize bytes of it: a FIFO
// would block occ forever and a device such as /dev/zero never ends. The
// file is opened non-blocking so that even a FIFO cannot hang the open,
// and it is checked on the open descriptor. With checkPerms, a file others
// can write is refused (checkNotWorldWritable).
func readConfigFile(path string, checkPerms bool) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &ConfigError{Path: path, Problem: fmt.Sprintf("cannot read the file: it is %s, not a regular file", fileKind(st.Mode())),
			Hint: "point --config / $OCC_CONFIG at a JSON file"}
	}
	if st.Size() > MaxConfigSize {
		return nil, &ConfigError{Path: path, Problem: fmt.Sprintf("cannot read the file: it is %d bytes, and a config is at most %d", st.Size(), MaxConfigSize),
			Hint: "point --config / $OCC_CONFIG at occ's config file"}
	}
	if checkPerms {
		if err := checkNotWorldWritable(path, st); err != nil {
			return nil, err
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxConfigSize {
		return nil, &ConfigError{Path: path, Problem: fmt.Sprintf("cannot read the file: it is larger than %d bytes", MaxConfigSize),
			Hint: "point --config / $OCC_CONFIG at occ's config file"}
	}
	return data, nil
}

// checkNotWorldWritable refuses a config that any user on the host can
// change, the way ssh refuses such a key or config: whoever can write it
// chooses the image occ runs, its mounts and its environment. The file
// must not be writable by others, nor may its directory be (unless the
// directory is sticky, like /tmp, where others cannot replace the file).
func checkNotWorldWritable(path string, st fs.FileInfo) error {
	if st.Mode().Perm()&0o002 != 0 {
		return &ConfigError{Path: path, Problem: fmt.Sprintf("the file is writable by every user on this host (mode %04o), so anyone could change what occ runs", st.Mode().Perm()),
			Hint: fmt.Sprintf("run: chmod 600 %s", shellQuote(path)), Err: errdefs.ErrFailedPrecondition}
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = path
	}
	dir := filepath.Dir(real)
	if dst, err := os.Stat(dir); err == nil && dst.Mode().Perm()&0o002 != 0 && dst.Mode()&os.ModeSticky == 0 {
		return &ConfigError{Path: path, Problem: fmt.Sprintf("its directory %s is writable by every user on this host (mode %04o), so anyone could replace the file", dir, dst.Mode().Perm()),
			Hint: fmt.Sprintf("run: chmod o-w %s", shellQuote(dir)), Err: errdefs.ErrFailedPrecondition}
	}
	return nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=+-]+$`)

func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + regexp.MustCompile(`'`).ReplaceAllString(s, `'\''`) + "'"
}

// resolveConfigPath is where a save writes: path itself, or, when path is
// a symlink (a dotfiles checkout, say), the file it points to, so the link
// stays a link.
func resolveConfigPath(path string) (string, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, nil
	}
	if err != nil {
		return "", err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return path, nil
	}
	real, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		// A dangling link: create its target.
		target, rerr := os.Readlink(path)
		if rerr != nil {
			return "", rerr
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		return target, nil
	}
	return real, err
}

// passwordValueRe finds an "auth_password" member with a string value in
// text that may not parse (a broken file being reset).
var passwordValueRe = regexp.MustCompile(`("auth_password"\s*:\s*)"(?:[^"\\\n]|\\.)*"?`)

// withoutPassword returns a config file's bytes with any auth_password
// value removed, for the backup occ keeps: upstream kept a plain-text
// password there, and occ writes no password anywhere. A file that parses
// keeps its comments and layout with just that member gone; one that does
// not (a broken file being reset) has the value blanked.
func withoutPassword(data []byte) []byte {
	if v, err := hujson.Parse(data); err == nil {
		if obj, ok := v.Value.(*hujson.Object); ok {
			kept := obj.Members[:0]
			removed := false
			for _, m := range obj.Members {
				if lit, ok := m.Name.Value.(hujson.Literal); ok && lit.String() == "auth_password" {
					removed = true
					continue
				}
				kept = append(kept, m)
			}
			obj.Members = kept
			if !removed {
				return data
			}
			return v.Pack()
		}
	}
	return passwordValueRe.ReplaceAll(data, []byte(`${1}null`))
}
