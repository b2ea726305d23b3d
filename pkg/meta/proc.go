package meta

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// ProcessAlive reports whether pid names a live process (a zombie counts
// as gone). occ names its temporary files and directories after its pid,
// so that a later occ can remove those of one that was killed.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndex(s, ") "); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// RemoveDeadOwners removes the entries of dir named prefix+PID+"-"… whose
// process is gone (left by an occ that was SIGKILLed while it wrote them).
// Entries of a live process, and names without a pid, are left.
func RemoveDeadOwners(dir, prefix string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 || ProcessAlive(pid) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// tempName matches WriteFileAtomic's temporary files: .<name>.tmp-<pid>-<random>.
var tempName = regexp.MustCompile(`^\..+\.tmp-([0-9]+)-[^/]*$`)

// RemoveDeadTemps removes WriteFileAtomic's temporary files in dir whose
// writer is gone (SIGKILLed between creating and renaming one), whatever
// file they were for: a later write into the directory cleans up after
// every earlier one.
func RemoveDeadTemps(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		m := tempName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		if pid, err := strconv.Atoi(m[1]); err == nil && pid > 0 && !ProcessAlive(pid) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
