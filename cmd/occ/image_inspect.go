package main

import (
	"context"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
)

// ImageInspectCmd shows one local image's record and provenance.
type ImageInspectCmd struct {
	JSON bool   `name:"json" help:"Print JSON."`
	Name string `arg:"" optional:"" placeholder:"NAME" help:"Local image name (default: the current sandbox image, opencode-cloud.local/sandbox:current)."`
}

// imageJSON is the JSON shape of `image ls --json` and `image inspect --json`.
type imageJSON struct {
	Name       string            `json:"name"`
	Target     string            `json:"target_digest"`
	MediaType  string            `json:"media_type"`
	Size       int64             `json:"size"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
	Provenance *meta.Provenance  `json:"provenance,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
}

func toImageJSON(i registry.LocalImage) imageJSON {
	out := imageJSON{Name: i.Name, Target: i.Image.Target.Digest.String(), MediaType: i.Image.Target.MediaType,
		Size: i.Size, CreatedAt: i.Image.CreatedAt, UpdatedAt: i.Image.UpdatedAt, Labels: i.Image.Labels}
	if i.HasProvenance {
		p := i.Provenance
		out.Provenance = &p
	}
	return out
}

func (c *ImageInspectCmd) Run(ctx context.Context, app *App) error {
	img, err := app.ops().ImageInspect(ctx, c.Name)
	if err != nil {
		return err
	}
	if c.JSON {
		return writeJSON(app.UI.Out, toImageJSON(img))
	}
	tw := tabwriter.NewWriter(app.UI.Out, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", app.UI.Bold(k), v)
		}
	}
	row("Name", img.Name)
	row("Target", fmt.Sprintf("%s (%s)", img.Image.Target.Digest, img.Image.Target.MediaType))
	row("Size", humanBytes(img.Size))
	if !img.HasProvenance {
		row("Provenance", "none recorded (not pulled or built by occ)")
	} else {
		inspectProvenance(row, img.Provenance)
	}
	if app.UI.Verbose > 0 {
		keys := make([]string, 0, len(img.Image.Labels))
		for k := range img.Image.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			row("Label "+k, img.Image.Labels[k])
		}
	}
	return tw.Flush()
}

// inspectProvenance writes where the image came from, its signature check
// and its build.
func inspectProvenance(row func(k, v string), p meta.Provenance) {
	row("Source", p.Source)
	row("Registry", p.Registry)
	row("Repository", p.Repository)
	row("Reference", p.Reference)
	row("Index digest", p.IndexDigest)
	row("Manifest digest", p.ManifestDigest)
	row("Platform", p.Platform)
	row("Image version", p.ImageVersion)
	if !p.AcquiredAt.IsZero() {
		row("Acquired", p.AcquiredAt.Local().Format(time.RFC3339))
	}
	if p.Source == meta.SourcePrebuilt {
		inspectSignature(row, p.Verification)
	}
	if b := p.Build; b != nil {
		row("BuildKit", b.BuildkitVersion)
		row("Build worker", b.Worker)
		row("Context digest", b.ContextDigest)
		row("No cache", fmt.Sprint(b.NoCache))
	}
}

// inspectSignature writes a pulled image's signature check.
func inspectSignature(row func(k, v string), v *meta.Verification) {
	switch {
	case v == nil:
		row("Signature", "not checked (image_verify off, or pulled before occ verified signatures)")
	case v.Verified:
		row("Signature", "verified under image_verify "+v.Policy)
		row("Signed by", v.Identity)
		row("Issuer", v.Issuer)
		row("Method", v.Method)
		if !v.SignedAt.IsZero() {
			row("Signed at", v.SignedAt.UTC().Format(time.RFC3339))
		}
		row("Bundle digest", v.BundleDigest)
		if !v.VerifiedAt.IsZero() {
			row("Verified at", v.VerifiedAt.Local().Format(time.RFC3339))
		}
	default:
		row("Signature", "NOT verified (image_verify "+v.Policy+"): "+v.Problem)
	}
}
