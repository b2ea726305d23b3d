package build

import (
	"fmt"
	"strings"
)

// BuildError is a build that BuildKit ran and that failed: the step that
// failed, the last lines of its output and a hint for the common causes.
// The previous image and image state are left as they were.
type BuildError struct {
	Step string   // the failing step, e.g. "[2/3] RUN apt-get update"
	Logs []string // the last lines of its output
	Hint string
	Err  error
}

func (e *BuildError) Error() string {
	var b strings.Builder
	if e.Step != "" {
		msg := cleanSolveError(e.Err)
		// "process "/bin/sh -c …" did not complete successfully: exit code: 7"
		// repeats the step's command: keep the exit status.
		if _, status, ok := strings.Cut(msg, "did not complete successfully: "); ok && strings.HasPrefix(msg, "process ") {
			msg = status
		}
		fmt.Fprintf(&b, "build failed at step %s: %s", e.Step, msg)
	} else {
		fmt.Fprintf(&b, "build failed: %v", cleanSolveError(e.Err))
	}
	if len(e.Logs) > 0 {
		b.WriteString("\n  last output of that step:")
		for _, l := range e.Logs {
			b.WriteString("\n    " + l)
		}
	}
	if e.Hint != "" {
		b.WriteString("\n  hint: " + e.Hint)
	}
	b.WriteString("\n  The current sandbox image and image state were not changed.")
	return b.String()
}

func (e *BuildError) Unwrap() error { return e.Err }

// cleanSolveError drops the client's "failed to solve: " prefix.
func cleanSolveError(err error) string {
	if err == nil {
		return "unknown error"
	}
	return strings.TrimPrefix(err.Error(), "failed to solve: ")
}

// hints map output fragments (lower case) to advice; the first match wins.
var hints = []struct {
	needles []string
	hint    string
}{
	{[]string{"no space left on device", "disk quota exceeded", "enospc"},
		"the disk is full: free space where BuildKit and containerd keep their data (e.g. `buildctl prune`, `occ gc`), then build again"},
	{[]string{"permission denied", "operation not permitted", "eacces", "eperm", "read-only file system"},
		"a permission problem: check that occ may use the BuildKit and containerd sockets, and that the Dockerfile step does not write where it may not (rootless BuildKit cannot do everything a rootful one can)"},
	{[]string{"temporary failure in name resolution", "no such host", "could not resolve", "dial tcp", "i/o timeout",
		"connection refused", "connection reset", "network is unreachable", "tls handshake", "failed to fetch", "failed to do request",
		"unable to connect", "context deadline exceeded", "unexpected eof", "403 forbidden", "401 unauthorized"},
		"a network problem: check the connection to the registries and mirrors the build uses (proxy, DNS, firewall, credentials), then build again; BuildKit reuses what already finished"},
}

func hintFor(texts ...string) string {
	all := strings.ToLower(strings.Join(texts, "\n"))
	for _, h := range hints {
		for _, n := range h.needles {
			if strings.Contains(all, n) {
				return h.hint
			}
		}
	}
	return ""
}
