package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
)

// orphanedShimError explains a task that cannot be created because
// containerd still runs a shim for the container's previous task while no
// longer listing that task. occ's kill tests leave one when occ is
// SIGKILLed while it stops the sandbox (containerd abandons the task
// delete half-way when its client goes away); every later start then
// fails until the shim is gone.
func orphanedShimError(ctx context.Context, id string, err error) error {
	ns, _ := namespaces.Namespace(ctx)
	return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
		"cannot create the sandbox task: containerd still runs a shim for the container's previous task, which it no longer lists "+
			"(left behind when an occ was killed while stopping the sandbox): stop that shim with "+
			"`sudo pkill -f 'containerd-shim-runc-v2 -namespace %s -id %s '` (or restart containerd), then run the command again (%v)", ns, id, err))
}

// orphanedShims returns the pids of containerd shims under procRoot
// (/proc) serving task id in namespace ns for the containerd at address:
// their command line is `containerd-shim-* … -namespace NS -id ID
// -address ADDRESS …`.
func orphanedShims(procRoot, ns, id, address string) []int {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		if shimServes(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), ns, id, address) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// shimServes says whether argv is a containerd shim's for (ns, id, address).
func shimServes(argv []string, ns, id, address string) bool {
	if len(argv) == 0 || !strings.HasPrefix(filepath.Base(argv[0]), "containerd-shim") {
		return false
	}
	flags := map[string]string{}
	for i := 1; i+1 < len(argv); i++ {
		if strings.HasPrefix(argv[i], "-") {
			flags[strings.TrimLeft(argv[i], "-")] = argv[i+1]
		}
	}
	return flags["namespace"] == ns && flags["id"] == id && flags["address"] == address
}

// reapOrphanedShim stops the shim containerd left running for the
// container's previous task after forgetting that task (see
// orphanedShimError). It only acts when containerd lists no task for the
// container, and reports whether it stopped one; containerd then notices
// the shim's exit and a new task can be created.
func (s *Sandbox) reapOrphanedShim(ctx context.Context, c containerd.Container) bool {
	if _, err := c.Task(ctx, nil); !errdefs.IsNotFound(err) {
		return false // a task containerd knows about is not ours to kill
	}
	pids := orphanedShims("/proc", s.client.Namespace, c.ID(), s.client.Address)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(pids) == 0 {
		return false
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		alive := false
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(b), ") Z ") {
					alive = true
				}
			}
		}
		if !alive {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}
