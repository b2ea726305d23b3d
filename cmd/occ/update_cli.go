package main

import (
	"context"
)

// UpdateCLICmd replaces occ with a release's binary: the release's
// checksums.txt must carry a Sigstore signature of the release workflow at
// that tag (or of release_verify_key), the archive must match it, and the
// new binary must run `occ version` before the old one (kept as occ.old
// until then) is let go. A running sandbox is then restarted by the new occ
// (asked on a terminal; at once with --yes).
type UpdateCLICmd struct {
	Version string `name:"to" placeholder:"V" help:"The release to install (default: the newest); --version V says the same."`
	Key     string `name:"key" placeholder:"FILE" help:"A PEM public key checksums.txt must be signed with (over release_verify_key; default: the release workflow's keyless signature)."`
}

func (u *UpdateCLICmd) Run(ctx context.Context, app *App, c *UpdateCmd) error {
	if err := c.refuseRollback("occ update cli"); err != nil {
		return err
	}
	res, err := app.ops().UpdateCLI(ctx, c.cliOptions(app, false, u.Version, u.Key))
	if err != nil {
		return err
	}
	if c.JSON {
		return writeJSON(app.UI.Out, res)
	}
	return nil
}
