package main

import (
	"context"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/kube"
)

// KubeDeleteCmd deletes the instance. The claims (the workspace, opencode's
// data) and the namespace stay unless --volumes: a later apply finds them.
type KubeDeleteCmd struct {
	Volumes bool `help:"Delete the volumes' claims and the namespace too: the workspace and opencode's data are lost."`
	Yes     bool `short:"y" help:"Do not ask for confirmation of --volumes (needed when not on a terminal)."`
	kubeFlags
}

func (c *KubeDeleteCmd) Run(ctx context.Context, app *App) error {
	kc, err := c.open(app)
	if err != nil {
		return err
	}
	if c.Volumes && !c.Yes {
		return errdefs.ErrFailedPrecondition.WithMessage("--volumes deletes the workspace and opencode's data in namespace " +
			kc.Namespace + " for good: add --yes to confirm")
	}
	deleted, err := kc.Delete(ctx, kube.DeleteOptions{Volumes: c.Volumes})
	for _, d := range deleted {
		app.UI.Infof("%s/%s deleted", d.Kind, d.Name)
	}
	if err != nil {
		return err
	}
	if len(deleted) == 0 {
		app.UI.Infof("Nothing to delete in namespace %s.", kc.Namespace)
		return nil
	}
	app.UI.Successf("Deleted the sandbox in namespace %s%s.", kc.Namespace, map[bool]string{true: " with its volumes", false: " (volumes kept)"}[c.Volumes])
	return nil
}
