package main

import (
	"context"
	"fmt"
	"io"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/ops"
)

// RestartCmd stops and starts the sandbox container, recreating it first
// when the configuration (port, bind address, mounts, network mode, image)
// no longer matches it, then waits until the service answers.
type RestartCmd struct {
	Yes  bool `short:"y" help:"Recreate the container without asking when the configuration changed."`
	JSON bool `name:"json" help:"Print where the service answers as JSON."`
}

func (c *RestartCmd) Run(ctx context.Context, app *App) error {
	res, err := app.ops().Restart(ctx, ops.RestartOptions{Yes: c.Yes})
	if err != nil {
		return err
	}
	if c.JSON {
		return writeJSON(app.UI.Out, res)
	}
	renderRunning(app, res.Running, false)
	return nil
}

// renderRunning prints where a started sandbox answers: upstream's start
// result block (URL, container, port, security), and the "Open in
// browser" hint unless it was just opened.
func renderRunning(app *App, r ops.Running, opened bool) {
	writeRunning(app.UI.Out, app.UI, r, !opened)
}

func writeRunning(w io.Writer, ui *UI, r ops.Running, openHint bool) {
	line := func(label, value string) { fmt.Fprintf(w, "%-11s %s\n", label+":", value) }
	line("URL", r.URL)
	line("Container", r.Container)
	if r.Port > 0 {
		if r.NetworkMode == meta.NetworkHost {
			line("Port", fmt.Sprintf("%d (host network)", r.Port))
		} else {
			line("Port", fmt.Sprintf("%d -> 3000", r.Port))
		}
	}
	if r.BindAddress != "" {
		sec := ui.Green("[LOCAL ONLY]") + " " + r.BindAddress + ", this machine only"
		if r.Exposed {
			where := "on " + r.BindAddress
			if r.BindAddress == "0.0.0.0" || r.BindAddress == "::" {
				where = "on all network interfaces (" + r.BindAddress + ")"
			}
			sec = ui.Yellow("[NETWORK EXPOSED]") + " Accessible " + where
		}
		line("Security", sec)
		auth := fmt.Sprintf("login required (%d user%s; occ user list)", r.Users, plural(r.Users))
		if r.Users == 0 {
			auth = ui.Yellow("no login users") + ": add one with occ user add NAME"
		}
		line("Auth", auth)
	}
	if openHint && r.URL != "" {
		fmt.Fprintf(w, "\nOpen in browser: occ start --open (or %s)\n", browserURL(r.URL))
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
