package main

import (
	"context"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/kube"
	"github.com/opencode-cloud/occ/pkg/meta"
)

// kubeUpdate is occ update --kube: the configured image resolved to its
// digest, verified, and applied (the StatefulSet replaces the pod; the
// image it replaces is recorded for --rollback). --rollback applies the
// recorded image, verified again.
func kubeUpdate(ctx context.Context, app *App, kc *kube.Client, cfg *meta.Config, rollback, hostUsers bool) error {
	verify, err := kubeVerifier(app, cfg)
	if err != nil {
		return err
	}
	opts := kube.DeployOptions{Config: cfg, Verify: verify, HostUsers: hostUsers}
	if rollback {
		d, err := kc.Rollback(ctx, opts)
		if err != nil {
			return err
		}
		app.UI.Successf("Rolled back to %s in namespace %s (was %s): the StatefulSet replaces the pod; occ kube status shows it.", d.Image, kc.Namespace, d.Previous)
		return nil
	}
	cur, _, err := kc.Current(ctx)
	if err != nil {
		return err
	}
	if cur == "" {
		return errNoKubeSandbox(kc)
	}
	if opts.Image, err = kube.ResolveImage(ctx, cfg, ""); err != nil {
		return err
	}
	if opts.Image == cur {
		app.UI.Successf("The sandbox in namespace %s already runs %s.", kc.Namespace, cur)
		return nil
	}
	d, err := kc.Deploy(ctx, opts)
	if err != nil {
		return err
	}
	app.UI.Successf("Updated namespace %s to %s (previous %s, kept for occ update --rollback --kube): the StatefulSet replaces the pod.", kc.Namespace, d.Image, d.Previous)
	return nil
}

func errNoKubeSandbox(kc *kube.Client) error {
	return errdefs.ErrNotFound.WithMessage("no sandbox in namespace " + kc.Namespace + " to update: occ kube apply deploys one")
}
