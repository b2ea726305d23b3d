package meta

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// LabelOwner marks a containerd lease occ creates with the process that
// holds it, "PID:START" (START: the process's start time in clock ticks
// since boot, /proc/PID/stat field 22, so that a reused pid does not
// pass for the owner). A lease normally dies with the command that made
// it; one whose owner is gone was left by an occ that was killed, and the
// next occ deletes it (runtime.RemoveDeadLeases) instead of letting it
// hold its content for up to a day.
const LabelOwner = LabelPrefix + "owner"

// ProcessOwner is LabelOwner's value for this process.
func ProcessOwner() string {
	return ownerOf(os.Getpid())
}

func ownerOf(pid int) string {
	return fmt.Sprintf("%d:%s", pid, processStart(pid))
}

// processStart is field 22 of /proc/PID/stat ("" when unreadable).
func processStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndex(s, ") ")
	if i < 0 {
		return ""
	}
	// Fields after the command: state is field 3, so start time (22) is
	// the 20th from there.
	f := strings.Fields(s[i+2:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// OwnerAlive reports whether the process a LabelOwner value names still
// runs. A value that cannot be read counts as alive: only a lease whose
// owner is certainly gone may be deleted.
func OwnerAlive(owner string) bool {
	pidStr, start, ok := strings.Cut(owner, ":")
	pid, err := strconv.Atoi(pidStr)
	if !ok || err != nil || pid <= 0 || start == "" {
		return true
	}
	if !ProcessAlive(pid) {
		return false
	}
	return processStart(pid) == start
}
