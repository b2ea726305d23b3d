package main

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// acquireImage pulls or builds the sandbox image as meta.CurrentImageName
// for `occ start`'s image flags and the version check's answers. When
// there is a current image already, the new one goes through update's
// staging record and replaces it the way `occ update` does: the image it
// replaces is kept as previous (record and image state), so that
// `occ update --rollback` can go back to it. An image the same as the
// current one changes nothing.
func acquireImage(ctx context.Context, app *App, cfg *meta.Config, rt *runtime.Client, action imageAction) error {
	nctx := rt.WithNamespace(ctx)
	cur, err := rt.ImageService().Get(nctx, meta.CurrentImageName)
	if errdefs.IsNotFound(err) {
		return acquireImageAs(ctx, app, cfg, rt, action, "")
	} else if err != nil {
		return fmt.Errorf("look up the sandbox image: %w", err)
	}
	is := rt.ImageStore()
	if err := is.DeleteImage(ctx, meta.UpdateImageName); err != nil {
		return fmt.Errorf("remove the leftover staging image %s: %w", meta.UpdateImageName, err)
	}
	dropStaging := func() {
		if err := is.DeleteImage(context.WithoutCancel(ctx), meta.UpdateImageName); err != nil {
			app.UI.Verbosef("remove the staging image %s: %v", meta.UpdateImageName, err)
		}
	}
	if err := acquireImageAs(ctx, app, cfg, rt, action, meta.UpdateImageName); err != nil {
		dropStaging()
		return err
	}
	next, err := rt.ImageService().Get(nctx, meta.UpdateImageName)
	if err != nil {
		dropStaging()
		return fmt.Errorf("read the new image record %s: %w", meta.UpdateImageName, err)
	}
	if same, err := rt.SameImage(ctx, cur, next); err != nil || same {
		dropStaging()
		if same {
			app.UI.Successf("%s is up to date (%s); previous is unchanged", meta.CurrentImageName, cur.Target.Digest)
		}
		return err
	}
	recs, err := rt.SaveImageRecords(ctx, app.Paths.StateFile())
	if err != nil {
		dropStaging()
		return err
	}
	defer recs.Release(ctx)
	if _, err := recs.Promote(ctx, meta.UpdateImageName); err != nil {
		dropStaging()
		if rerr := recs.Restore(context.WithoutCancel(ctx)); rerr != nil {
			return fmt.Errorf("%w; putting the image records back failed too: %v", err, rerr)
		}
		return fmt.Errorf("%w (the image records and state are back as before)", err)
	}
	app.UI.Infof("The image it replaces is kept as previous (go back with: occ update --rollback)")
	return nil
}
