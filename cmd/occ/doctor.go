package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/opencode-cloud/occ/pkg/doctor"
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
		failed = doctor.Failed(results)
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

// runDoctor checks the config, then the daemon settings in effect and
// where they came from, then pkg/doctor's checks.
func runDoctor(ctx context.Context, app *App) []doctor.Check {
	cfg, exists, err := app.LoadConfig()
	first := doctor.ConfigCheck(app.Paths.ConfigFile, exists, cfg, err)
	if err != nil {
		return []doctor.Check{first}
	}
	settings := func(context.Context, *doctor.Env) []doctor.Check { return daemonChecks(app, cfg) }
	checks := append([]doctor.CheckFunc{settings}, doctor.Checks()...)
	return append([]doctor.Check{first}, doctor.Run(ctx, &doctor.Env{Config: cfg, Paths: app.Paths}, checks)...)
}

// renderDoctor prints the results and a summary line.
// With onlyFailures (-q) it prints the failed checks and nothing else.
func renderDoctor(w io.Writer, ui *UI, results []doctor.Check, onlyFailures bool) (failed, warned int) {
	width := 0
	for _, r := range results {
		width = max(width, len(r.Name))
	}
	p := ui.For(w)
	marks := map[doctor.Status]string{doctor.OK: p.Green("ok  "), doctor.Warn: p.Yellow("warn"), doctor.Fail: p.Red("FAIL"), doctor.Skip: p.Dim("skip")}
	for _, r := range results {
		switch r.Status {
		case doctor.Fail:
			failed++
		case doctor.Warn:
			warned++
		}
		if onlyFailures && r.Status != doctor.Fail {
			continue
		}
		fmt.Fprintf(w, "[%s] %-*s  %s\n", marks[r.Status], width, r.Name, r.Detail)
		if r.Fix != "" && (r.Status == doctor.Fail || r.Status == doctor.Warn) {
			fmt.Fprintf(w, "       %-*s  Fix: %s\n", width, "", r.Fix)
		}
	}
	switch {
	case onlyFailures:
	case failed > 0:
		fmt.Fprintf(w, "\n%d problem(s) must be fixed before occ can run the sandbox; %d warning(s).\n", failed, warned)
	case warned > 0:
		fmt.Fprintf(w, "\nEverything needed is in place; %d warning(s).\n", warned)
	default:
		fmt.Fprintf(w, "\nEverything is in place.\n")
	}
	return failed, warned
}

// oneLine is the first line of an error.
func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimSuffix(s, ":")
}
