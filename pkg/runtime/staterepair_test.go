package runtime

import (
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// TestRepairedState: the image state follows the records whatever the
// file says after a kill between the record write and the state write.
func TestRepairedState(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	prov := func(d digest.Digest, ref string) meta.Provenance {
		return meta.Provenance{Source: meta.SourcePrebuilt, Registry: "registry.test", Repository: "registry.test/sandbox",
			Reference: ref, ManifestDigest: d.String(), Platform: "linux/amd64", AcquiredAt: at}
	}
	dA, dB := digest.FromString("A"), digest.FromString("B")
	rec := func(name string, d digest.Digest, p *meta.Provenance) *images.Image {
		img := &images.Image{Name: name, Target: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: 1}}
		if p != nil {
			img.Labels = p.Labels()
		}
		return img
	}
	pA, pB := prov(dA, "registry.test/sandbox:1"), prov(dB, "registry.test/sandbox:2")
	state := func(cur meta.Provenance, prev *meta.Provenance) *meta.ImageState {
		return &meta.ImageState{Version: meta.StateVersion, Provenance: cur, Previous: prev}
	}
	for _, tc := range []struct {
		name      string
		cur, prev *images.Image
		old       *meta.ImageState
		wantOK    bool
		wantCur   string // manifest digest of the state's current
		wantPrev  string // "" : none
	}{
		{name: "agree", cur: rec(meta.CurrentImageName, dA, &pA), old: state(pA, nil), wantOK: false, wantCur: dA.String()},
		{name: "agree with previous", cur: rec(meta.CurrentImageName, dB, &pB), prev: rec(meta.PreviousImageName, dA, &pA),
			old: state(pB, &pA), wantOK: false, wantCur: dB.String(), wantPrev: dA.String()},
		{name: "pull killed before the state", cur: rec(meta.CurrentImageName, dB, &pB), old: state(pA, nil), wantOK: true, wantCur: dB.String()},
		{name: "update killed before the state", cur: rec(meta.CurrentImageName, dB, &pB), prev: rec(meta.PreviousImageName, dA, &pA),
			old: state(pA, nil), wantOK: true, wantCur: dB.String(), wantPrev: dA.String()},
		{name: "rollback killed before the state", cur: rec(meta.CurrentImageName, dA, &pA), prev: rec(meta.PreviousImageName, dB, &pB),
			old: state(pB, &pA), wantOK: true, wantCur: dA.String(), wantPrev: dB.String()},
		{name: "no state file", cur: rec(meta.CurrentImageName, dA, &pA), wantOK: true, wantCur: dA.String()},
		{name: "record without labels keeps the file's entry", cur: rec(meta.CurrentImageName, dA, nil), old: state(pA, nil), wantOK: false, wantCur: dA.String()},
		{name: "record without labels, file about another image", cur: rec(meta.CurrentImageName, dA, nil), old: state(pB, nil), wantOK: false},
		{name: "no current record", old: state(pA, nil), wantOK: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := RepairedState(tc.cur, tc.prev, tc.old)
			if ok != tc.wantOK {
				t.Fatalf("repair needed = %v, want %v (state %+v)", ok, tc.wantOK, got)
			}
			if tc.wantCur == "" {
				return
			}
			if got == nil || got.ManifestDigest != tc.wantCur {
				t.Fatalf("state's current %+v, want %s", got, tc.wantCur)
			}
			switch {
			case tc.wantPrev == "" && got.Previous != nil:
				t.Errorf("state's previous %+v, want none", got.Previous)
			case tc.wantPrev != "" && (got.Previous == nil || got.Previous.ManifestDigest != tc.wantPrev):
				t.Errorf("state's previous %+v, want %s", got.Previous, tc.wantPrev)
			}
		})
	}
}
