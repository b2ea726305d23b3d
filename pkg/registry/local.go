package registry

import (
	"context"
	"fmt"
	"sort"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// LocalImage is a sandbox image record in containerd with its provenance.
type LocalImage struct {
	Name       string
	Image      images.Image
	Provenance meta.Provenance
	// HasProvenance is false for a record occ did not label.
	HasProvenance bool
	// Size is the stored size of the platform's manifest, config and
	// layers (compressed), 0 when content is missing.
	Size int64
}

// List returns occ's image records (labelled managed-by=opencode-cloud),
// current first, then previous, then the rest by name.
func List(ctx context.Context, cs content.Store, is images.Store) ([]LocalImage, error) {
	imgs, err := is.List(ctx, fmt.Sprintf("labels.%q==%s", meta.ManagedByLabel, meta.ManagedByValue))
	if err != nil {
		return nil, fmt.Errorf("listing images in containerd: %w", err)
	}
	// The canonical names are listed even if someone stripped the labels.
	seen := map[string]bool{}
	for _, i := range imgs {
		seen[i.Name] = true
	}
	for _, n := range []string{meta.CurrentImageName, meta.PreviousImageName} {
		if !seen[n] {
			if i, err := is.Get(ctx, n); err == nil {
				imgs = append(imgs, i)
			}
		}
	}
	out := make([]LocalImage, 0, len(imgs))
	for _, i := range imgs {
		out = append(out, describe(ctx, cs, i))
	}
	rank := func(n string) int {
		switch n {
		case meta.CurrentImageName:
			return 0
		case meta.PreviousImageName:
			return 1
		}
		return 2
	}
	sort.Slice(out, func(a, b int) bool {
		if ra, rb := rank(out[a].Name), rank(out[b].Name); ra != rb {
			return ra < rb
		}
		return out[a].Name < out[b].Name
	})
	return out, nil
}

// Inspect returns one image record (default meta.CurrentImageName).
func Inspect(ctx context.Context, cs content.Store, is images.Store, name string) (LocalImage, error) {
	if name == "" {
		name = meta.CurrentImageName
	}
	i, err := is.Get(ctx, name)
	if errdefs.IsNotFound(err) {
		return LocalImage{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("no image %s in containerd: pull it with `occ image pull` (or build it with `occ image build`)", name))
	}
	if err != nil {
		return LocalImage{}, fmt.Errorf("reading image %s: %w", name, err)
	}
	return describe(ctx, cs, i), nil
}

func describe(ctx context.Context, cs content.Store, i images.Image) LocalImage {
	li := LocalImage{Name: i.Name, Image: i}
	li.Provenance, li.HasProvenance = meta.ProvenanceFromLabels(i.Labels)
	pm := platforms.Default()
	if li.Provenance.Platform != "" {
		if p, err := platforms.Parse(li.Provenance.Platform); err == nil {
			pm = platforms.Only(p)
		}
	}
	if m, err := images.Manifest(ctx, cs, i.Target, pm); err == nil {
		li.Size = m.Config.Size
		for _, l := range m.Layers {
			li.Size += l.Size
		}
	}
	return li
}
