package main

import (
	"context"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// UpdateContainerCmd gets a new sandbox image the way image_source says
// (pull the configured image, or a cached rebuild), keeps the one it
// replaces as previous, and recreates the container from it with the same
// settings (volumes, and so the users, are kept), waiting until it answers.
// If the new container fails, or occ is interrupted, it goes back to the
// image that ran before by itself. With `occ update --rollback` it swaps
// the current and previous images instead.
type UpdateContainerCmd struct{}

func (u *UpdateContainerCmd) Run(ctx context.Context, app *App, c *UpdateCmd) error {
	return c.container(ctx, app, ops.UpdateOptions{})
}
