package main

import (
	"context"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/ops"
)

// UpdateOpencodeCmd rebuilds the sandbox image with BuildKit with another
// opencode release (a cached build: the layers before opencode's are
// reused) and updates the container to it, rolling back if it fails.
// Unlike upstream, which rebuilds opencode inside the running container,
// the result is an image: reproducible, with its provenance recorded, and
// `occ update --rollback` goes back to the one before.
type UpdateOpencodeCmd struct {
	Version string `name:"to" placeholder:"V" help:"The opencode-ai release to install (default: the version this occ pins); --version V says the same."`
}

func (u *UpdateOpencodeCmd) Run(ctx context.Context, app *App, c *UpdateCmd) error {
	if err := c.refuseRollback("occ update opencode"); err != nil {
		return err
	}
	v := u.Version
	if v == "" {
		var err error
		if v, err = pinnedOpencode(); err != nil {
			return err
		}
	} else if err := build.CheckOpencodeVersion(v); err != nil {
		return usageError{err}
	}
	return c.container(ctx, app, ops.UpdateOptions{OpencodeVersion: v})
}

func pinnedOpencode() (string, error) { return build.PinnedOpencodeVersion() }
