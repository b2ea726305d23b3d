package runtime

import (
	"context"
	"fmt"

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
