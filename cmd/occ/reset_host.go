package main

import (
	"context"
	"errors"

	"github.com/opencode-cloud/occ/pkg/ops"
	"github.com/opencode-cloud/occ/pkg/service"
)

// ResetHostCmd is the factory reset: the systemd unit, the container, the
// volumes, the configured mount directories (and their mounts), with
// --images occ's images, then occ's config and data directories. Local
// only: it acts on this host's containerd.
type ResetHostCmd struct {
	Images bool `help:"Also delete occ's sandbox images from containerd."`
	Force  bool `short:"f" help:"Do not ask for confirmation (needed without a terminal)."`
	JSON   bool `name:"json" help:"Print what was removed and the disk use as JSON."`
}

func (c *ResetHostCmd) Run(ctx context.Context, app *App) error {
	cfg, _, err := app.LoadConfig()
	if err != nil {
		return err
	}
	in := newInstaller()
	mode := cfg.BootMode
	var uninstall func(context.Context) (string, error)
	if installed, err := in.Installed(mode); err == nil && installed {
		uninstall = func(ctx context.Context) (string, error) {
			if err := in.Disable(ctx, mode); err != nil && !errors.Is(err, service.ErrNoSystemd) {
				app.UI.Warnf("stopping or disabling the service: %v", err)
			}
			path, _, err := in.RemoveUnit(mode)
			if err != nil {
				return "", err
			}
			if err := in.Reload(ctx, mode); err != nil && !errors.Is(err, service.ErrNoSystemd) {
				app.UI.Warnf("systemctl daemon-reload: %v", err)
			}
			return path, nil
		}
	}
	res, err := app.ops().ResetHost(ctx, ops.ResetOptions{Images: c.Images, Force: c.Force, Uninstall: uninstall})
	if res != nil {
		if c.JSON && err == nil {
			return writeJSON(app.UI.Out, res)
		}
		if !c.JSON {
			renderReset(app.UI.Out, res)
		}
	}
	return err
}
