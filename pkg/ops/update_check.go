package ops

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
)

// What `occ update` can update.
const (
	UpdateCLI       = "cli"
	UpdateContainer = "container"
	UpdateOpencode  = "opencode"
)

// UpdateCandidate is one line of `occ update`'s selector: what runs now
// and what an update would bring.
type UpdateCandidate struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	// Current is what runs now; Available what the update installs (""
	// when there is nothing to update, Note says why).
	Current   string `json:"current"`
	Available string `json:"available,omitempty"`
	Note      string `json:"note,omitempty"`
}

// UpdateCheck looks at the three things `occ update` updates: occ itself
// (the newest release, its signature verified), the sandbox image (the
// configured pull, or a cached rebuild: whether it differs is known only
// once it is here) and the image's opencode (the version this occ's
// Dockerfile pins). Nothing is changed; failures become notes.
func (e *Env) UpdateCheck(ctx context.Context, cli UpdateCLIOptions) []UpdateCandidate {
	out := []UpdateCandidate{{Name: UpdateCLI, Label: "occ CLI", Current: meta.Version}}
	if chk, err := e.CheckCLI(ctx, cli); err != nil {
		out[0].Note = fmt.Sprintf("cannot check for a new release: %v", err)
	} else if chk.Available == chk.Current || chk.Newer() {
		out[0].Note = "up to date (the newest release is " + chk.Available + ")"
	} else {
		out[0].Available = chk.Available
	}
	ctr := UpdateCandidate{Name: UpdateContainer, Label: "Container image"}
	oc := UpdateCandidate{Name: UpdateOpencode, Label: "opencode"}
	pinned, perr := build.PinnedOpencodeVersion()
	s, err := e.Open(ctx, OpenOptions{Validate: true})
	if err != nil {
		ctr.Note = fmt.Sprintf("cannot check: %v", err)
		oc.Note = ctr.Note
		return append(out, ctr, oc)
	}
	defer s.Close()
	is := s.Client.ImageStore()
	cur, err := is.Image(ctx, e.Paths.Images().Current)
	switch {
	case errdefs.IsNotFound(err):
		// Still offered: the update says to run occ start first, as it
		// always has.
		ctr.Available = "an image, once occ start has got the first one"
		oc.Note = "no sandbox image yet: occ start gets one"
		return append(out, ctr, oc)
	case err != nil:
		ctr.Note = fmt.Sprintf("cannot check: %v", err)
		oc.Note = ctr.Note
		return append(out, ctr, oc)
	}
	ctr.Current = DescribeImage(cur)
	if s.Config.ImageSource == meta.SourceBuild {
		ctr.Available = "a cached rebuild from source"
	} else if src, err := registry.SourceFromConfig(s.Config); err != nil {
		ctr.Note = err.Error()
	} else {
		ctr.Available = "the newest " + src.String() + " (compared once pulled)"
	}
	if c, err := is.ImageConfig(ctx, cur.Target); err == nil {
		oc.Current = c.Config.Labels[build.LabelOpencodeVersion]
	}
	switch {
	case oc.Current == "":
		// Not occ's sandbox image (or one too old to say): nothing to
		// compare, and a rebuild would replace whatever it is.
		oc.Note = "the image does not say which opencode it has (label " + build.LabelOpencodeVersion + "); occ update opencode --version V rebuilds it"
	case perr != nil:
		oc.Note = perr.Error()
	case s.Config.ImageSource != meta.SourceBuild:
		// A prebuilt image brings its own opencode: offering a rebuild
		// here would turn `occ update --yes` into a build from source
		// that image_source prebuilt said not to do (and that needs
		// BuildKit and the base image). The container update brings the
		// published image's opencode; a rebuild stays one command away.
		oc.Note = "comes with the prebuilt image (occ update container); occ update opencode --version V builds it from source instead"
	case oc.Current == pinned:
		oc.Note = "up to date"
	default:
		oc.Available = pinned
	}
	return append(out, ctr, oc)
}
