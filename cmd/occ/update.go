package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// UpdateCmd updates occ itself, the sandbox image or the image's opencode.
// Without a subcommand it shows what can be updated and lets the user pick
// (--yes: everything available); --rollback goes back to the previous
// sandbox image. Its flags apply to every subcommand.
type UpdateCmd struct {
	Yes      bool   `short:"y" help:"Do not ask: apply every available update (needed when not on a terminal)."`
	Rollback bool   `help:"Go back to the previous sandbox image (kept by the last update): swap it with the current one and recreate the container."`
	JSON     bool   `name:"json" help:"Print what changed as JSON."`
	From     string `name:"from" env:"OCC_RELEASE_URL" placeholder:"URL" help:"Where occ's releases are (over release_url in the config; default the GitHub releases page)."`
	kubeSwitch
	hostUsersFlag

	Select    UpdateSelectCmd    `cmd:"" default:"1" hidden:"" help:"Choose what to update (the default)."`
	CLI       UpdateCLICmd       `cmd:"" name:"cli" help:"Replace occ with a release: its signature and checksum verified, the old binary put back if the new one does not run."`
	Container UpdateContainerCmd `cmd:"" help:"A new sandbox image per image_source, the container recreated (users and data kept); rolls back by itself if the new one fails."`
	Opencode  UpdateOpencodeCmd  `cmd:"" help:"Rebuild the sandbox image with BuildKit with another opencode (default: the version this occ pins), then update the container."`
}

// container runs the sandbox image update (or --rollback) and renders it:
// `occ update container`, and what the selector runs for the image.
func (c *UpdateCmd) container(ctx context.Context, app *App, o ops.UpdateOptions) error {
	if kc, cfg, err := c.kubeClient(app); err != nil || kc != nil {
		if o.OpencodeVersion != "" {
			return orKube(err, func() error {
				return errdefs.ErrNotImplemented.WithMessage("occ update opencode rebuilds the image on this host; on Kubernetes, build and publish the image (occ image build --build-arg OPENCODE_VERSION=…), then occ update --kube")
			})
		}
		return orKube(err, func() error { return kubeUpdate(ctx, app, kc, cfg, o.Rollback, c.NoUserNS) })
	}
	o.Yes, o.Rollback = c.Yes || o.Yes, c.Rollback
	res, err := app.ops().Update(ctx, o)
	if err != nil {
		return err
	}
	if c.JSON {
		return writeJSON(app.UI.Out, res)
	}
	renderUpdate(app, res)
	return nil
}

func renderUpdate(app *App, res *ops.UpdateResult) {
	if res.Started {
		if res.URL != "" {
			app.UI.Printf("URL:        %s", res.URL)
		}
		app.UI.Printf("Container:  %s", res.Container)
	}
}

// cliOptions are the self-update's options from the flags.
func (c *UpdateCmd) cliOptions(app *App, yes bool, version, key string) ops.UpdateCLIOptions {
	return ops.UpdateCLIOptions{Yes: c.Yes || yes, Version: version, From: c.From, KeyFile: key,
		Args: app.Globals.args(), Stdout: app.UI.Out, Stderr: app.UI.Err}
}

// args are the global flags in effect, for another occ run on the same
// installation and daemons (the new binary's `occ restart`).
func (g *Globals) args() []string {
	var a []string
	for _, f := range []struct{ flag, v string }{{"--config", g.ConfigPath}, {"--address", g.Address}, {"--namespace", g.Namespace},
		{"--snapshotter", g.Snapshotter}, {"--buildkit-host", g.BuildkitHost}, {"--cni-path", g.CNIPath}} {
		if f.v != "" {
			a = append(a, f.flag+"="+f.v)
		}
	}
	if g.Quiet {
		a = append(a, "--quiet")
	}
	if g.NoColor {
		a = append(a, "--no-color")
	}
	for range g.Verbose {
		a = append(a, "-v")
	}
	return a
}

// refuseRollback is for the subcommands --rollback does not apply to.
func (c *UpdateCmd) refuseRollback(sub string) error {
	if c.Rollback {
		return usageError{fmt.Errorf("--rollback goes back to the previous sandbox image: use `occ update --rollback` (or `occ update container --rollback`), not with %s", sub)}
	}
	return nil
}

// updateVersionFlag lets `occ update cli|opencode --version V` name the
// version to install: kong keeps --version for occ's own version (a global
// flag, so no command may define it), so after `update cli` or `update
// opencode` it becomes their --to. Anywhere else --version is left alone.
func updateVersionFlag(args []string) []string {
	cmd := -1
	for i, a := range args {
		if a == "--" {
			return args
		}
		if !strings.HasPrefix(a, "-") {
			if globalValueBefore(args, i) {
				continue
			}
			cmd = i
			break
		}
	}
	if cmd < 0 || args[cmd] != "update" {
		return args
	}
	sub := false
	out := append([]string(nil), args...)
	for i := cmd + 1; i < len(out); i++ {
		switch a := out[i]; {
		case a == "--":
			return out
		case a == "cli" || a == "opencode":
			sub = true
		case sub && a == "--version":
			out[i] = "--to"
		case sub && strings.HasPrefix(a, "--version="):
			out[i] = "--to=" + strings.TrimPrefix(a, "--version=")
		}
	}
	return out
}

// globalValueBefore is whether args[i] is the value of the global flag
// before it (--config PATH).
func globalValueBefore(args []string, i int) bool {
	return i > 0 && globalTakesValue(args[i-1])
}
