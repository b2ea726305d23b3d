package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
)

// A task bundle left behind. containerd creates a task's bundle directory
// (<state>/io.containerd.runtime.v2.task/<namespace>/<id>, where the shim
// mounts the container's root filesystem at rootfs) with a plain mkdir,
// and removes it when the task is deleted or its creation fails. When the
// client goes away in the middle of the creation (occ SIGKILLed while
// `occ update` or `occ start` creates the task: the kill suite's seed
// 1795837322716882930) the directory can stay, with no shim and no task,
// and every later task creation fails with "mkdir <bundle>: file exists"
// until containerd restarts.
//
// occ removes it: containerd's mkdir cannot reuse a directory, and what is
// in it (the old spec, the rootfs mount point) belongs to a task that no
// longer exists. The rootfs is unmounted first and must then be an empty
// directory: removing through a mounted overlay would delete the
// container's files. containerd's API does not name its state directory,
// so the path comes from the error, and is used only when it is exactly
// the bundle of this namespace and container.

var bundleExistsRE = regexp.MustCompile(`mkdir (/\S+): file exists`)

// staleBundlePath returns the bundle directory a task creation failed on
// ("mkdir <path>: file exists"), if err says so and the path is the bundle
// of container id in namespace ns.
func staleBundlePath(err error, ns, id string) (string, bool) {
	if err == nil {
		return "", false
	}
	m := bundleExistsRE.FindStringSubmatch(err.Error())
	if m == nil {
		return "", false
	}
	p := m[1]
	if filepath.Clean(p) != p || filepath.Base(p) != id || filepath.Base(filepath.Dir(p)) != ns ||
		filepath.Base(filepath.Dir(filepath.Dir(p))) != "io.containerd.runtime.v2.task" {
		return "", false
	}
	return p, true
}

// removeStaleBundle removes the bundle directory a killed task creation
// left (see above). It acts only when containerd lists no task for the
// container; a shim still serving it is stopped first.
func (s *Sandbox) removeStaleBundle(ctx context.Context, c containerd.Container, bundle string) error {
	if _, err := c.Task(ctx, nil); !errdefs.IsNotFound(err) {
		return fmt.Errorf("containerd still has a task for %s while its bundle %s blocks a new one: run `occ stop`, then start again (%v)", c.ID(), bundle, err)
	}
	s.reapOrphanedShim(ctx, c)
	if err := mount.UnmountRecursive(bundle, 0); err != nil {
		return staleBundleError(bundle, fmt.Errorf("unmount: %w", err))
	}
	// Empty now, or something is still mounted or written there: stop
	// before anything of the container could be removed.
	if err := os.Remove(filepath.Join(bundle, "rootfs")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return staleBundleError(bundle, err)
	}
	if err := os.RemoveAll(bundle); err != nil {
		return staleBundleError(bundle, err)
	}
	return nil
}

func staleBundleError(bundle string, err error) error {
	return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
		"containerd's task directory %s was left behind by an interrupted start and occ could not remove it (%v): "+
			"unmount %s/rootfs and remove the directory (or restart containerd), then run the command again", bundle, err, bundle))
}

// runcStateExists is runc's refusal to create a container whose state it
// still keeps (under occ's runc root, RunDir/runc/<id>): what a task
// creation killed while runc created the container leaves, with the
// container's init process waiting in its cgroup.
const runcStateExists = "container with given ID already exists"

func isStaleRuncState(err error) bool {
	return err != nil && strings.Contains(err.Error(), runcStateExists)
}

// removeStaleRuncState deletes, with `runc delete --force` (which also
// kills the waiting init process and removes its cgroup), runc's state for
// the container when containerd lists no task for it.
func (s *Sandbox) removeStaleRuncState(ctx context.Context, c containerd.Container) error {
	if _, err := c.Task(ctx, nil); !errdefs.IsNotFound(err) {
		return fmt.Errorf("containerd still has a task for %s while runc refuses a new one: run `occ stop`, then start again (%v)", c.ID(), err)
	}
	s.reapOrphanedShim(ctx, c)
	// The runc shim keeps each namespace's containers under <root>/<namespace>.
	root := filepath.Join(s.runcRoot(), s.client.Namespace)
	runc := containerRunc(ctx, c)
	out, err := exec.CommandContext(ctx, runc, "--root", root, "delete", "--force", c.ID()).CombinedOutput()
	if err == nil {
		if _, serr := os.Stat(filepath.Join(root, c.ID())); serr == nil {
			err = errors.New("its state directory is still there")
		}
	}
	if err != nil {
		return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
			"runc still keeps the state of an interrupted start of %s and occ could not delete it (%v: %s): "+
				"run `%s --root %s delete --force %s`, then run the command again", c.ID(), err, strings.TrimSpace(string(out)), runc, root, c.ID()))
	}
	return nil
}

// containerRunc is the runc the container was created with (its runtime
// options' BinaryName: the runc >= 1.2 the isolation picked), so that the
// state it left is read by the same runc; "runc" from PATH when none is
// recorded.
func containerRunc(ctx context.Context, c containerd.Container) string {
	info, err := c.Info(ctx)
	if err != nil || info.Runtime.Options == nil {
		return "runc"
	}
	var o options.Options
	if typeurl.UnmarshalTo(info.Runtime.Options, &o) != nil || o.BinaryName == "" {
		return "runc"
	}
	return o.BinaryName
}
