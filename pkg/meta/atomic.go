package meta

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// WriteFileAtomic replaces path with data so that a reader (or a crash) sees
// either the old file or the new one, never a mix: it writes a temporary file
// in the same directory, fsyncs it, renames it over path and fsyncs the
// directory. The parent directory is created with mode 0700 if missing.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	// .<name>.tmp-<pid>-<random>: a later write into dir removes the
	// temporaries of writers that are gone (killed mid-save) at once, and
	// any older than StaleTempAge (a pid reused since) by age.
	RemoveDeadTemps(dir)
	RemoveStaleTemps(dir, filepath.Base(path), StaleTempAge)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-"+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	committed = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: the rename is done; a failed dir fsync only weakens durability
		d.Close()
	}
	return nil
}

// StaleTempAge is how old a temporary file of WriteFileAtomic must be to be
// taken for one a killed occ left: a save takes milliseconds, and a live
// one is never that old.
const StaleTempAge = 15 * time.Minute

// tempRe matches WriteFileAtomic's temporary files: .<name>.tmp-<pid>-<random>
// (and .<name>.tmp-<random>, as earlier occs named them).
var tempRe = regexp.MustCompile(`^\.(.+?)\.tmp-[0-9]+(-[0-9]+)?$`)

// RemoveStaleTemps removes, from dir, the temporary files WriteFileAtomic
// made for name ("" for any name) that are older than maxAge: what an occ
// killed mid-save left. It returns how many it removed; errors are ignored
// (a file another process removed first, a directory that is not there).
func RemoveStaleTemps(dir, name string, maxAge time.Duration) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	cutoff := time.Now().Add(-maxAge)
	for _, e := range entries {
		m := tempRe.FindStringSubmatch(e.Name())
		if m == nil || (name != "" && m[1] != name) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.ModTime().After(cutoff) {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			n++
		}
	}
	return n
}
