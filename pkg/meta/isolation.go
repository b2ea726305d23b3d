package meta

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/docker/go-units"
)

// The sandbox's isolation settings (seccomp, apparmor, userns, userns_base,
// pids_limit, memory_limit, cpu_limit): all on by default. pkg/runtime
// turns them into the container's spec; docs/security.md says what each
// stops.

const (
	// UserNSSize is how many ids the sandbox's user namespace maps: the
	// container's 0-65535, the ids an image's files and accounts use.
	UserNSSize = 65536
	// DefaultUserNSBase is the first host id of the sandbox's range: far
	// above the ids useradd hands out (1000-60000) and the subordinate
	// ranges it allocates in /etc/subuid (100000 and up, 65536 a user).
	DefaultUserNSBase = 1_000_000_000
	// MaxUserNSBase keeps the range below 4294967295 (-1, "no id") and
	// 4294967294 (the overflow id some file systems use).
	MaxUserNSBase = math.MaxUint32 - 1 - UserNSSize
	// DefaultPidsLimit bounds processes and threads: a fork bomb stops
	// there, while npm, node and a build's workers fit comfortably.
	DefaultPidsLimit = 4096
	// MinPidsLimit leaves room for the sandbox's own processes (tini, the
	// entrypoint, nginx and its workers, opencode's threads).
	MinPidsLimit = 64
	// MinMemoryLimit is the least memory the sandbox starts with.
	MinMemoryLimit = 256 << 20

	LimitAuto = "auto"
	LimitNone = "none"
)

// ParseMemoryLimit reads memory_limit: auto, none (or 0), or a size
// (512m, 4g, 4GiB; binary units). bytes is 0 for none and for auto.
func ParseMemoryLimit(s string) (bytes int64, auto bool, err error) {
	v := strings.ToLower(strings.TrimSpace(s))
	switch v {
	case LimitAuto, "":
		return 0, true, nil
	case LimitNone, "0", "unlimited":
		return 0, false, nil
	}
	n, err := units.RAMInBytes(v)
	if err != nil {
		return 0, false, fmt.Errorf("%q is not a size: use auto, none, or a size such as 512m or 4g", s)
	}
	if n < MinMemoryLimit {
		return 0, false, fmt.Errorf("%s is too little for the sandbox: at least %s", s, units.BytesSize(MinMemoryLimit))
	}
	return n, false, nil
}

// ParseCPULimit reads cpu_limit: auto, none (or 0), or a number of CPUs
// (0.5, 2). cpus is 0 for none and for auto.
func ParseCPULimit(s string) (cpus float64, auto bool, err error) {
	v := strings.ToLower(strings.TrimSpace(s))
	switch v {
	case LimitAuto, "":
		return 0, true, nil
	case LimitNone, "0", "unlimited":
		return 0, false, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, fmt.Errorf("%q is not a number of CPUs: use auto, none, or a number such as 1.5", s)
	}
	if f < 0.1 || f > 1024 {
		return 0, false, fmt.Errorf("%s CPUs is out of range: 0.1 to 1024", s)
	}
	return f, false, nil
}

// AutoMemoryLimit is memory_limit auto on a host with hostBytes of memory:
// three quarters of it (at least MinMemoryLimit), so that a runaway
// allocation inside the sandbox is OOM-killed there and the host keeps a
// quarter for itself.
func AutoMemoryLimit(hostBytes int64) int64 {
	return max(hostBytes/4*3, MinMemoryLimit)
}

// AutoCPULimit is cpu_limit auto on a host with n CPUs: all but half a
// CPU, at least one, so that a busy sandbox leaves the host (sshd, occ,
// containerd) some time of its own.
func AutoCPULimit(n int) float64 {
	return max(float64(n)-0.5, 1)
}

// checkUsernsBase checks userns_base.
func checkUsernsBase(c *Config) (problem, fix string) {
	if c.UserNSBase < UserNSSize || c.UserNSBase > MaxUserNSBase {
		return fmt.Sprintf("must be between %d and %d (the sandbox's %d ids must be unprivileged host ids), got %d",
			UserNSSize, MaxUserNSBase, UserNSSize, c.UserNSBase), fmt.Sprintf("occ config set userns_base %d", DefaultUserNSBase)
	}
	return "", ""
}

// checkPidsLimit checks pids_limit.
func checkPidsLimit(c *Config) (problem, fix string) {
	if c.PidsLimit != 0 && (c.PidsLimit < MinPidsLimit || c.PidsLimit > 4194304) {
		return fmt.Sprintf("must be 0 (no limit) or between %d and 4194304, got %d", MinPidsLimit, c.PidsLimit),
			fmt.Sprintf("occ config set pids_limit %d", DefaultPidsLimit)
	}
	return "", ""
}

// checkMemoryLimit checks memory_limit.
func checkMemoryLimit(c *Config) (problem, fix string) {
	if _, _, err := ParseMemoryLimit(c.MemoryLimit); err != nil {
		return err.Error(), "occ config set memory_limit auto"
	}
	return "", ""
}

// checkCPULimit checks cpu_limit.
func checkCPULimit(c *Config) (problem, fix string) {
	if _, _, err := ParseCPULimit(c.CPULimit); err != nil {
		return err.Error(), "occ config set cpu_limit auto"
	}
	return "", ""
}
