package release

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
)

// Executable is the running binary's path, symbolic links resolved: the
// file a self-update replaces.
func Executable() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the running occ binary: %w", err)
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	return p, nil
}

// DpkgInfoDir is where dpkg lists the files of each installed package.
const DpkgInfoDir = "/var/lib/dpkg/info"

// OwningPackage says which package manager installed path: "dpkg (package
// NAME)" when dpkg's file lists name it (dpkgInfoDir: DpkgInfoDir), "rpm
// (package NAME)" when rpm owns it, "" otherwise.
func OwningPackage(dpkgInfoDir, path string) string {
	lists, _ := filepath.Glob(filepath.Join(dpkgInfoDir, "*.list"))
	for _, l := range lists {
		if listsPath(l, path) {
			pkg := strings.TrimSuffix(filepath.Base(l), ".list")
			pkg, _, _ = strings.Cut(pkg, ":") // name:arch
			return "dpkg (package " + pkg + ")"
		}
	}
	if rpm, err := exec.LookPath("rpm"); err == nil && dpkgInfoDir == DpkgInfoDir {
		if out, err := exec.Command(rpm, "-qf", "--qf", "%{NAME}", path).Output(); err == nil && len(out) > 0 {
			return "rpm (package " + strings.TrimSpace(string(out)) + ")"
		}
	}
	return ""
}

func listsPath(list, path string) bool {
	f, err := os.Open(list)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() == path {
			return true
		}
	}
	return false
}

// OldSuffix names the previous binary while a new one is being tried.
const OldSuffix = ".old"

// RollbackError is a new binary that failed its check: the old one is back
// in place.
type RollbackError struct {
	Err         error
	RestoreErr  error
	Target, Old string
}

func (e *RollbackError) Error() string {
	if e.RestoreErr != nil {
		return fmt.Sprintf("the new occ did not run (%v), and putting the old one back failed too: %v; the old binary is %s: move it to %s by hand",
			e.Err, e.RestoreErr, e.Old, e.Target)
	}
	return fmt.Sprintf("the new occ did not run (%v); the old binary is back at %s", e.Err, e.Target)
}

func (e *RollbackError) Unwrap() error { return e.Err }

// Replace puts newBin (a file in target's directory) in place of target
// with one rename, so that target is always a whole binary, the old or the
// new. The old one stays as target+".old" until check (run on target, now
// the new binary) passes, then is removed; when check fails it is renamed
// back (a *RollbackError). Each rename is made durable (the directory is
// fsynced).
func Replace(target, newBin string, check func(path string) error) error {
	dir := filepath.Dir(target)
	if filepath.Dir(newBin) != dir {
		return errdefs.ErrInvalidArgument.WithMessage("the new binary must be written beside the old one")
	}
	st, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("the running occ binary: %w", err)
	}
	if err := os.Chmod(newBin, st.Mode().Perm()|0o111); err != nil {
		return fmt.Errorf("the new binary's mode: %w", err)
	}
	old := target + OldSuffix
	if err := os.Remove(old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the leftover %s: %w", old, err)
	}
	// A second name for the old binary: a hard link, else a copy.
	if err := os.Link(target, old); err != nil {
		if err := copyFile(target, old, st.Mode().Perm()); err != nil {
			return fmt.Errorf("keep the old binary as %s: %w", old, err)
		}
	}
	syncDir(dir)
	if err := os.Rename(newBin, target); err != nil {
		os.Remove(old)
		return fmt.Errorf("put the new binary in place of %s: %w", target, err)
	}
	syncDir(dir)
	if cerr := check(target); cerr != nil {
		rerr := os.Rename(old, target)
		syncDir(dir)
		return &RollbackError{Err: cerr, RestoreErr: rerr, Target: target, Old: old}
	}
	if err := os.Remove(old); err != nil {
		return fmt.Errorf("the new occ runs, but removing %s failed: %w", old, err)
	}
	syncDir(dir)
	return nil
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: a failed directory fsync only weakens durability
		d.Close()
	}
}
