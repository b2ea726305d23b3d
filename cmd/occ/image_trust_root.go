package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/opencode-cloud/occ/pkg/trust"
)

// ImageTrustRootCmd shows which Sigstore trusted root keyless signatures
// are verified against, and refreshes it.
type ImageTrustRootCmd struct {
	Refresh bool `help:"Fetch Sigstore's current public-good trusted root through its TUF repository (needs the network) and use it from now on instead of the one embedded in occ."`
}

func (c *ImageTrustRootCmd) Run(ctx context.Context, app *App) error {
	cfg, _, err := app.LoadConfig()
	if err != nil {
		return err
	}
	dest := app.Paths.TrustedRootFile()
	if c.Refresh {
		if cfg.ImageVerifyRoot != "" {
			app.UI.Warnf("image_verify_trusted_root (%s) is set and stays in use; the refreshed root is used once it is unset", cfg.ImageVerifyRoot)
		}
		tr, err := trust.RefreshTrustedRoot(ctx, dest, filepath.Join(app.Paths.DataDir, "tuf"))
		if err != nil {
			return fmt.Errorf("%w (verification keeps using the current root; nothing was changed)", err)
		}
		app.UI.Successf("Saved Sigstore's trusted root as %s (%d Fulcio CA(s), %d Rekor log(s), %d timestamp authorities)",
			dest, len(tr.FulcioCertificateAuthorities()), len(tr.RekorLogs()), len(tr.TimestampingAuthorities()))
		return nil
	}
	switch {
	case cfg.ImageVerifyKey != "":
		fmt.Fprintf(app.UI.Out, "Signatures are verified with the key %s (image_verify_key); no trusted root is used.\n", cfg.ImageVerifyKey)
	case cfg.ImageVerifyRoot != "":
		fmt.Fprintf(app.UI.Out, "Keyless signatures are verified against %s (image_verify_trusted_root).\n", cfg.ImageVerifyRoot)
	case fileExists(dest):
		fmt.Fprintf(app.UI.Out, "Keyless signatures are verified against %s (fetched by occ image trust-root --refresh).\n", dest)
	default:
		fmt.Fprintln(app.UI.Out, "Keyless signatures are verified against Sigstore's public-good trusted root embedded in occ (refresh it with occ image trust-root --refresh).")
	}
	return nil
}
