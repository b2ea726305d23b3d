package main

import (
	"context"
	"time"

	"github.com/opencode-cloud/occ/pkg/kube"
)

// KubeLogsCmd prints the sandbox container's log through the API server.
type KubeLogsCmd struct {
	Follow   bool          `short:"f" help:"Keep printing new lines."`
	Lines    int64         `short:"n" name:"lines" help:"Only the last N lines (0: all)."`
	Since    time.Duration `help:"Only lines newer than this (e.g. 10m)."`
	Previous bool          `help:"The container's previous run (after a restart)."`
	kubeFlags
}

func (c *KubeLogsCmd) Run(ctx context.Context, app *App) error {
	kc, err := c.open(app)
	if err != nil {
		return err
	}
	return kc.Logs(ctx, app.UI.Out, kube.LogOptions{Follow: c.Follow, Tail: c.Lines, Since: c.Since, Previous: c.Previous})
}
