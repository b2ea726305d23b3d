package main

import (
	"context"
	"encoding/json"
)

// DoctorCmd checks what occ needs (containerd, runc, CNI, BuildKit, the
// registries, privileges, disk space) and says how to fix what is missing.
// It exits non-zero when something needed is missing.
type DoctorCmd struct {
	JSON bool `name:"json" help:"Print the results as JSON."`
}

func (c *DoctorCmd) Run(ctx context.Context, app *App) error {
	results := runDoctor(ctx, app)
	var failed int
	if c.JSON {
		for _, r := range results {
			if r.Status == checkFail {
				failed++
			}
		}
		enc := json.NewEncoder(app.UI.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		// -q prints only what failed, on stderr (UI.Out is for results).
		w := app.UI.Out
		if app.Globals.Quiet {
			w = app.UI.Err
		}
		failed, _ = renderDoctor(w, app.UI, results, app.Globals.Quiet)
	}
	if failed > 0 {
		return silentExit{code: 1}
	}
	return nil
}
