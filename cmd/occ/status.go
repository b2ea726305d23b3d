package main

import (
	"context"

	"github.com/opencode-cloud/occ/pkg/ops"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// StatusCmd shows the sandbox's state, address, health, image and its
// provenance, and the security settings. With -q it prints nothing: the
// exit code is 0 when the service runs, 3 when it does not, 4 when containerd
// cannot be reached.
type StatusCmd struct {
	JSON bool `name:"json" help:"Print the facts as JSON."`
}

func (c *StatusCmd) Run(ctx context.Context, app *App) error {
	stateOnly := app.UI.Quiet && !c.JSON
	r, err := app.ops().Status(ctx, ops.StatusOptions{StateOnly: stateOnly, Installed: installerFor(app).Installed})
	if err != nil {
		return err
	}
	if stateOnly {
		if r.State == string(runtime.StateRunning) {
			return nil
		}
		return silentExit{code: exitNotRunning}
	}
	if c.JSON {
		return writeJSON(app.UI.Out, r)
	}
	statusView{r}.render(app.UI.Out, app.UI)
	return nil
}
