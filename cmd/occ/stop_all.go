package main

import (
	"context"
	"fmt"
	"time"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// StopAllCmd stops every container occ manages on one containerd, in every
// namespace, and releases its network (namespace, veth, IPAM lease,
// iptables rules), whatever occ config made it: the container's labels
// record all its stop needs. hack/testbed down runs it before it stops its
// containerd, so a sandbox running on the testbed (make demo) leaves
// nothing behind on the host. Not for people: it takes no occ lock. The
// containerd it works on is named by the global --address (or
// $CONTAINERD_ADDRESS), which it requires.
type StopAllCmd struct {
	Timeout int `short:"t" default:"5" placeholder:"SECS" help:"Seconds to wait after SIGTERM before killing."`
}

func (c *StopAllCmd) Run(ctx context.Context, app *App) error {
	address := ""
	if app.Globals != nil {
		address = app.Globals.Address
	}
	if address == "" {
		return errInvalidFlag("occ stop-all needs containerd's socket: --address SOCKET (or $CONTAINERD_ADDRESS)")
	}
	return ops.StopAll(ctx, address, app.Paths, time.Duration(c.Timeout)*time.Second, func(s ops.StoppedContainer) {
		state := "was not running; network released"
		if s.WasRunning {
			state = "stopped; network released"
		}
		fmt.Fprintf(app.UI.Out, "%s/%s: %s\n", s.Namespace, s.ID, state)
	})
}
