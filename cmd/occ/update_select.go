package main

import (
	"context"
	"fmt"
	"os/exec"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// UpdateSelectCmd is `occ update` without a subcommand: the status of occ,
// the sandbox image and its opencode, and a choice of what to update
// (--yes: every available update), applied in that order. --rollback is the
// image rollback; --kube updates the cluster's image.
type UpdateSelectCmd struct{}

// updateSelection is the selector's --json document.
type updateSelection struct {
	Candidates []ops.UpdateCandidate `json:"candidates"`
	Selected   []string              `json:"selected"`
	CLI        *ops.UpdateCLIResult  `json:"cli,omitempty"`
	Container  *ops.UpdateResult     `json:"container,omitempty"`
	Opencode   *ops.UpdateResult     `json:"opencode,omitempty"`
}

func (s *UpdateSelectCmd) Run(ctx context.Context, app *App, c *UpdateCmd) error {
	if c.Rollback {
		return c.container(ctx, app, ops.UpdateOptions{})
	}
	if kc, _, err := c.kubeClient(app); err != nil || kc != nil {
		// On a cluster occ updates the image only.
		return c.container(ctx, app, ops.UpdateOptions{})
	}
	if !c.Yes && !app.Interactive {
		return errdefs.ErrFailedPrecondition.WithMessage("`occ update` asks what to update, but occ is not running on a terminal (or -q was given): " +
			"pass --yes to apply every available update, or name one: occ update cli|container|opencode [--yes]")
	}
	sp := app.UI.Spinner("Checking for updates...")
	cands := app.ops().UpdateCheck(ctx, c.cliOptions(app, false, "", ""))
	sp.Stop()
	out := updateSelection{Candidates: cands, Selected: []string{}}
	// On stderr, with the other messages: stdout stays what it was for
	// scripts (the URL, or --json's document).
	app.UI.Infof("%s", app.UI.Heading("Update status"))
	for _, k := range cands {
		switch {
		case k.Available != "":
			app.UI.Infof("  %-16s %s -> %s", k.Label, or(k.Current, "none"), k.Available)
		default:
			app.UI.Infof("  %-16s %s (%s)", k.Label, or(k.Current, "-"), k.Note)
		}
	}
	var avail []ops.UpdateCandidate
	for _, k := range cands {
		if k.Available != "" {
			avail = append(avail, k)
		}
	}
	if len(avail) == 0 {
		app.UI.Successf("Everything is already up to date.")
		if c.JSON {
			return writeJSON(app.UI.Out, out)
		}
		return nil
	}
	chosen := make([]bool, len(avail))
	for i := range chosen {
		chosen[i] = true
	}
	if !c.Yes {
		labels := make([]string, len(avail))
		for i, k := range avail {
			labels[i] = fmt.Sprintf("%s: %s -> %s", k.Label, or(k.Current, "none"), k.Available)
		}
		var err error
		if chosen, err = app.prompter().MultiSelect("Select updates to apply", labels, chosen, "--yes"); err != nil {
			return err
		}
	}
	for i, k := range avail {
		if chosen[i] {
			out.Selected = append(out.Selected, k.Name)
		}
	}
	if len(out.Selected) == 0 {
		app.UI.Infof("Nothing selected; nothing was changed.")
		if c.JSON {
			return writeJSON(app.UI.Out, out)
		}
		return nil
	}
	if err := c.apply(ctx, app, &out); err != nil {
		return err
	}
	if c.JSON {
		return writeJSON(app.UI.Out, out)
	}
	return nil
}

// apply runs the selected updates in order: occ itself, then the image,
// then opencode. After a new occ is in place the rest is run by it.
func (c *UpdateCmd) apply(ctx context.Context, app *App, out *updateSelection) error {
	sel := map[string]bool{}
	for _, n := range out.Selected {
		sel[n] = true
	}
	yes := c.Yes
	if !yes {
		ok, err := app.Confirm(fmt.Sprintf("Proceed with the selected updates (%d)?", len(out.Selected)), true, "--yes")
		if err != nil {
			return err
		}
		if !ok {
			return errdefs.ErrAborted.WithMessage("Aborted; nothing was changed.")
		}
	}
	newOcc := ""
	if sel[ops.UpdateCLI] {
		o := c.cliOptions(app, true, "", "")
		o.NoRestart = sel[ops.UpdateContainer] || sel[ops.UpdateOpencode] // they recreate the container anyway
		res, err := app.ops().UpdateCLI(ctx, o)
		if err != nil {
			return err
		}
		out.CLI = res
		if !res.UpToDate {
			newOcc = res.Path
		}
	}
	for _, what := range []string{ops.UpdateContainer, ops.UpdateOpencode} {
		if !sel[what] {
			continue
		}
		if newOcc != "" && !c.JSON {
			// The new occ updates the sandbox the way it knows.
			args := append(app.Globals.args(), "update", what, "--yes")
			if c.From != "" {
				args = append(args, "--from="+c.From)
			}
			cmd := exec.CommandContext(ctx, newOcc, args...)
			cmd.Stdout, cmd.Stderr = app.UI.Out, app.UI.Err
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("occ was updated, but `occ update %s` failed: %w", what, err)
			}
			continue
		}
		o := ops.UpdateOptions{Yes: true}
		if what == ops.UpdateOpencode {
			v, err := pinnedOpencode()
			if err != nil {
				return err
			}
			o.OpencodeVersion = v
		}
		res, err := app.ops().Update(ctx, o)
		if err != nil {
			return err
		}
		if what == ops.UpdateOpencode {
			out.Opencode = res
		} else {
			out.Container = res
		}
		if !c.JSON {
			renderUpdate(app, res)
		}
	}
	return nil
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
