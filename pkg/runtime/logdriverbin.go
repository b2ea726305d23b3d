package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/userns"
)

// The log driver is a binary:// log URI that containerd's shim, and its
// restart monitor after a crash or a reboot, run as root. Pointing it at
// the occ executable itself gave root to whoever owns that file (or any
// directory above it), and moving or upgrading occ broke every restart.
// So the shim runs a copy instead: content-addressed, in a directory under
// occ's data directory, and only if the copy, that directory and every
// directory above it can be changed by no one but root (or the user occ
// runs as); otherwise the start is refused, saying which path to fix.

// logDriverDir is where the copies live.
func logDriverDir(dataDir string) string { return filepath.Join(dataDir, "bin") }

// logDriverKeep is how many older copies stay (a container created by an
// older occ may still name one).
const logDriverKeep = 2

// installLogDriver returns the trusted copy of src in dir, making it when
// missing: dir/occ-log-driver-<sha256 prefix>, mode 0555.
func installLogDriver(src, dir string) (string, error) {
	sum, err := fileSHA256(src)
	if err != nil {
		return "", fmt.Errorf("log driver: reading %s: %w", src, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("log driver: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("log driver: %w", err)
	}
	dst := filepath.Join(dir, "occ-log-driver-"+sum[:24])
	if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
		if err := copyExecutable(src, dst); err != nil {
			return "", fmt.Errorf("log driver: copying %s to %s: %w", src, dst, err)
		}
		pruneLogDrivers(dir, dst)
	}
	if err := checkTrusted(dst); err != nil {
		return "", err
	}
	return dst, nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyExecutable writes src to dst atomically, read-only and executable.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".occ-log-driver-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename: nothing to remove
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o555); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// pruneLogDrivers removes all but the logDriverKeep newest copies besides
// current.
func pruneLogDrivers(dir, current string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "occ-log-driver-*"))
	type copyInfo struct {
		path string
		mod  int64
	}
	var old []copyInfo
	for _, m := range matches {
		if m == current {
			continue
		}
		if fi, err := os.Lstat(m); err == nil {
			old = append(old, copyInfo{m, fi.ModTime().UnixNano()})
		}
	}
	sort.Slice(old, func(i, j int) bool { return old[i].mod > old[j].mod })
	for i, c := range old {
		if i >= logDriverKeep {
			_ = os.Remove(c.path)
		}
	}
}

// checkTrusted refuses p unless it is a regular file (not a symlink) that
// only root or this user can change, in directories only they can change
// (a sticky directory such as /tmp counts: others cannot move what they
// do not own), all the way up to /.
func checkTrusted(p string) error {
	euid := uint32(os.Geteuid())
	bad := func(path, why string) error {
		fix := fmt.Sprintf("remove %s (occ makes it again)", filepath.Dir(p))
		if path != p && path != filepath.Dir(p) {
			// A directory above occ's own: not occ's to change.
			fix = "keep occ's data in a directory only root can change: set XDG_DATA_HOME (for a service, in its unit) to one such as /var/lib, " +
				fmt.Sprintf("or make %s owned by root and not writable by group or others", path)
		}
		return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
			"refusing to have containerd run the log driver %s as root: %s %s, so whoever can change it could run anything as root; to fix, %s",
			p, path, why, fix))
	}
	// Under rootless containerd (occ in rootlesskit's user namespace) the
	// "root" that runs the driver is the unprivileged user, and what the
	// host's root owns shows as the overflow uid: root's as much as before.
	overflow, inNS := overflowUID()
	owned := func(fi fs.FileInfo) bool {
		st, ok := fi.Sys().(*syscall.Stat_t)
		return ok && (st.Uid == 0 || st.Uid == euid || (inNS && st.Uid == overflow))
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("log driver: %w", err)
	}
	switch {
	case !fi.Mode().IsRegular():
		return bad(p, "is not a regular file")
	case !owned(fi):
		return bad(p, "is owned by another user")
	case fi.Mode().Perm()&0o022 != 0:
		return bad(p, fmt.Sprintf("is writable by group or others (mode %04o)", fi.Mode().Perm()))
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil {
		return fmt.Errorf("log driver: %w", err)
	}
	for {
		di, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("log driver: %w", err)
		}
		switch {
		case !owned(di):
			return bad(dir, "is a directory owned by another user")
		case di.Mode().Perm()&0o022 != 0 && di.Mode()&os.ModeSticky == 0:
			return bad(dir, fmt.Sprintf("is a directory writable by group or others (mode %04o)", di.Mode().Perm()))
		}
		parent := filepath.Dir(dir)
		if parent == dir || !strings.HasPrefix(dir, "/") {
			return nil
		}
		dir = parent
	}
}

// overflowUID is the uid files of unmapped owners show in a user namespace
// (kernel.overflowuid, 65534 by default), and whether this process runs in
// one whose root is not the host's.
func overflowUID() (uint32, bool) {
	if !userns.RunningInUserNS() {
		return 0, false
	}
	uid := uint32(65534)
	if b, err := os.ReadFile("/proc/sys/kernel/overflowuid"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil {
			uid = uint32(n)
		}
	}
	return uid, true
}
