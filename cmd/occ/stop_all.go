package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
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
	rt, err := runtime.Connect(ctx, address, meta.DefaultConfig().ContainerdNamespace, "")
	if err != nil {
		return err
	}
	defer rt.Close()
	nss, err := rt.Namespaces(ctx)
	if err != nil {
		return fmt.Errorf("list containerd namespaces at %s: %w", address, err)
	}
	var errs []error
	for _, ns := range nss {
		nsrt := rt.InNamespace(ns)
		ids, err := nsrt.ManagedContainers(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("list occ's containers in namespace %s: %w", ns, err))
			continue
		}
		for _, id := range ids {
			cfg := meta.DefaultConfig()
			cfg.ContainerdNamespace = ns
			sb, err := runtime.NewSandbox(nsrt, runtime.SpecOptions{Config: cfg, Paths: app.Paths, Name: id})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			res, err := sb.Stop(ctx, time.Duration(c.Timeout)*time.Second)
			if err != nil {
				errs = append(errs, fmt.Errorf("stop %s/%s: %w", ns, id, err))
				continue
			}
			state := "was not running; network released"
			if res.WasRunning {
				state = "stopped; network released"
			}
			fmt.Fprintf(os.Stdout, "%s/%s: %s\n", ns, id, state)
		}
	}
	return errors.Join(errs...)
}
