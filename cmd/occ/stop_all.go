package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"

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
	nss, err := rt.NamespaceService().List(ctx)
	if err != nil {
		return fmt.Errorf("list containerd namespaces at %s: %w", address, err)
	}
	var errs []error
	for _, ns := range nss {
		nsrt := &runtime.Client{Client: rt.Client, Address: rt.Address, Namespace: ns}
		list, err := rt.Containers(namespaces.WithNamespace(ctx, ns), fmt.Sprintf("labels.%q==%s", meta.ManagedByLabel, meta.ManagedByValue))
		if err != nil {
			errs = append(errs, fmt.Errorf("list occ's containers in namespace %s: %w", ns, err))
			continue
		}
		for _, ctr := range list {
			cfg := meta.DefaultConfig()
			cfg.ContainerdNamespace = ns
			sb, err := runtime.NewSandbox(nsrt, runtime.SpecOptions{Config: cfg, Paths: app.Paths, Name: ctr.ID()})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			res, err := sb.Stop(ctx, time.Duration(c.Timeout)*time.Second)
			if err != nil {
				errs = append(errs, fmt.Errorf("stop %s/%s: %w", ns, ctr.ID(), err))
				continue
			}
			state := "was not running; network released"
			if res.WasRunning {
				state = "stopped; network released"
			}
			fmt.Fprintf(os.Stdout, "%s/%s: %s\n", ns, ctr.ID(), state)
		}
	}
	return errors.Join(errs...)
}
