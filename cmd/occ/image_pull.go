package main

import (
	"context"
	"os"

	"github.com/opencontainers/go-digest"

	"github.com/opencode-cloud/occ/internal/ui"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/ops"
	"github.com/opencode-cloud/occ/pkg/trust"
)

// ImagePullCmd pulls the configured sandbox image (or REF) into containerd.
type ImagePullCmd struct {
	Platform string `placeholder:"OS/ARCH[/VARIANT]" help:"Platform to pull from a multi-platform image (default: linux/<host arch>)."`
	Ref      string `arg:"" optional:"" placeholder:"REF" help:"Image to pull instead of the configured one: REPOSITORY[:TAG] or REPOSITORY@sha256:DIGEST."`
}

func (c *ImagePullCmd) Run(ctx context.Context, app *App) error {
	_, err := app.ops().ImagePull(ctx, c.Ref, c.Platform)
	return err
}

// Kept for the commands that still format digests, sizes and signatures
// here (doctor_checks.go, image ls/inspect, status).
func shortDigest(d digest.Digest) string               { return ops.ShortDigest(d) }
func humanBytes(n int64) string                        { return ops.HumanBytes(n) }
func describeVerification(v *meta.Verification) string { return ui.DescribeVerification(v) }

// verifyPolicy is the trust policy the config describes (doctor's
// signature check and image trust-root use it).
func verifyPolicy(cfg *meta.Config, paths meta.Paths) (trust.Policy, error) {
	return ops.VerifyPolicy(cfg, paths)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
