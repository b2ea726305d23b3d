package main

import (
	"context"

	"github.com/opencode-cloud/occ/pkg/kube"
	"github.com/opencode-cloud/occ/pkg/ops"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// KubeRenderCmd prints the manifests occ kube apply sends. The image must
// be given by digest (or be pinned in image_digest): rendering reaches no
// registry and no cluster. The users are the host's records (hashes
// only), unless --no-users.
type KubeRenderCmd struct {
	Image   string `placeholder:"REPO@sha256:…" help:"The sandbox image by digest (default: image_repositories' first repository at image_digest)."`
	NoUsers bool   `name:"no-users" help:"Render the users Secret empty instead of with this host's user records."`
	KubeNS  string `name:"kube-namespace" placeholder:"NS" help:"namespace of the sandbox (over kube_namespace)."`
	hostUsersFlag
}

func (c *KubeRenderCmd) Run(ctx context.Context, app *App) error {
	cfg, _, err := app.LoadConfig()
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	image := c.Image
	if image == "" && cfg.ImageDigest != "" && len(cfg.ImageRepositories) > 0 {
		image = cfg.ImageRepositories[0] + "@" + cfg.ImageDigest
	}
	if image == "" {
		image, err = kube.ResolveImage(ctx, cfg, "")
		if err != nil {
			return err
		}
	}
	var users []runtime.UserRecord
	if !c.NoUsers {
		if users, err = runtime.ListUserRecords(ops.UsersDir(cfg, app.Paths)); err != nil {
			return err
		}
	}
	m, err := kube.Render(kube.Options{Config: cfg, Image: image, Users: users,
		Namespace: kubeFlags{KubeNS: c.KubeNS}.namespace(cfg), HostUsers: c.NoUserNS})
	if err != nil {
		return err
	}
	y, err := m.YAML()
	if err != nil {
		return err
	}
	_, err = app.UI.Out.Write(y)
	return err
}
