package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/opencode-cloud/occ/pkg/kube"
	"github.com/opencode-cloud/occ/pkg/ops"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// KubeApplyCmd resolves the image to a digest, verifies its signature
// under the config's policy, and server-side applies every manifest. The
// users are those in the cluster's Secret; on the first apply (no Secret
// yet) this host's records are taken along.
type KubeApplyCmd struct {
	Image  string        `placeholder:"REF" help:"The sandbox image (a tag is resolved to its digest; default: the configured one)."`
	DryRun bool          `name:"dry-run" help:"Have the API server validate and admit everything without storing it."`
	Wait   time.Duration `help:"Wait this long for the pod to be ready (default: do not wait)."`
	JSON   bool          `name:"json" help:"Print what was applied as JSON."`
	kubeFlags
	hostUsersFlag
}

func (c *KubeApplyCmd) Run(ctx context.Context, app *App) error {
	cfg, _, err := app.LoadConfig()
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	kc, err := c.connect(cfg)
	if err != nil {
		return err
	}
	image, err := kube.ResolveImage(ctx, cfg, c.Image)
	if err != nil {
		return err
	}
	verify, err := kubeVerifier(app, cfg)
	if err != nil {
		return err
	}
	existing, err := kc.Users(ctx)
	if err != nil {
		return err
	}
	opts := kube.DeployOptions{Config: cfg, Image: image, Verify: verify, HostUsers: c.NoUserNS, DryRun: c.DryRun}
	if existing == nil {
		// First apply: the host's users come along (none is fine: add them with occ user add --kube).
		if opts.Users, err = runtime.ListUserRecords(ops.UsersDir(cfg, app.Paths)); err != nil {
			return err
		}
		if opts.Users == nil {
			opts.Users = []runtime.UserRecord{}
		}
	}
	d, err := kc.Deploy(ctx, opts)
	if err != nil {
		return err
	}
	if !c.JSON {
		for _, a := range d.Applied {
			app.UI.Infof("%s/%s applied", a.Kind, a.Name)
		}
		verb := "Applied"
		if c.DryRun {
			verb = "Validated (dry run)"
		}
		app.UI.Successf("%s the sandbox %s in namespace %s (context %s).", verb, d.Image, kc.Namespace, kc.Context)
	}
	// --wait holds with --json too: the JSON follows once the pod is ready.
	if c.Wait > 0 && !c.DryRun {
		wctx, cancel := context.WithTimeout(ctx, c.Wait)
		defer cancel()
		ps, err := kc.WaitReady(wctx, d.Image, 2*time.Second)
		if err != nil {
			return err
		}
		if !c.JSON {
			app.UI.Successf("Pod %s is ready on %s.", ps.Name, ps.Node)
		}
	}
	if c.JSON {
		enc := json.NewEncoder(app.UI.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	}
	return nil
}
