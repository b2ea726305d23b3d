package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

const testDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

func TestDescribeImage(t *testing.T) {
	at := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	img := func(p *meta.Provenance) images.Image {
		i := images.Image{Target: ocispec.Descriptor{Digest: testDigest}}
		if p != nil {
			i.Labels = p.Labels()
		}
		return i
	}
	for _, tc := range []struct {
		name string
		img  images.Image
		want string
	}{
		{"no provenance", img(nil), testDigest},
		{"pulled", img(&meta.Provenance{Source: meta.SourcePrebuilt, ImageVersion: "1.2.3", Reference: "ghcr.io/x/y:latest"}),
			"v1.2.3 (" + testDigest + ", ghcr.io/x/y:latest)"},
		{"dev version left out", img(&meta.Provenance{Source: meta.SourcePrebuilt, ImageVersion: "dev"}), "(" + testDigest + ")"},
		{"built", img(&meta.Provenance{Source: meta.SourceBuild, ImageVersion: "v1.2.3", AcquiredAt: at, Build: &meta.BuildInfo{}}),
			"v1.2.3 (" + testDigest + ", built " + at.Local().Format(time.DateTime) + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DescribeImage(tc.img); got != tc.want {
				t.Errorf("DescribeImage = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSwitchFailure(t *testing.T) {
	restored := images.Image{Target: ocispec.Descriptor{Digest: testDigest},
		Labels: meta.Provenance{Source: meta.SourcePrebuilt, ImageVersion: "1.0.0"}.Labels()}
	for _, tc := range []struct {
		name      string
		err       error
		running   bool
		want      []string
		canceled  bool
		rolled    bool
		notWanted string
	}{
		{"rolled back", &runtime.SwitchError{Cause: errors.New("the container exited (code 3)"), Restored: restored}, true,
			[]string{"Update failed: the container exited (code 3).", "Rolled back to v1.0.0 (" + testDigest + ")", "running and answering as before"}, false, true, "failed too"},
		{"rolled back, not running", &runtime.SwitchError{Cause: errors.New("create failed"), Restored: restored}, false,
			[]string{"Update failed: create failed.", "the container is back as before"}, false, true, "answering"},
		{"interrupted", &runtime.SwitchError{Cause: fmt.Errorf("wait: %w", context.Canceled), Restored: restored}, true,
			[]string{"Update failed: interrupted.", "Rolled back to v1.0.0"}, true, true, ""},
		{"interrupted, cause not wrapping it", &runtime.SwitchError{Cause: errors.New("record network state: rpc canceled"), Restored: restored, Interrupted: true}, true,
			[]string{"Update failed: interrupted.", "Rolled back to v1.0.0"}, true, true, "rpc"},
		{"rollback failed too", &runtime.SwitchError{Cause: errors.New("boom"), Restored: restored, RollbackErr: errors.New("no space left")}, true,
			[]string{"Update failed: boom.", "Rolling back to v1.0.0 (" + testDigest + ") failed too: no space left", "occ start"}, false, false, ""},
		{"before the container was touched", errors.New("lease"), true, []string{"update failed: lease"}, false, false, "Rolled back"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := switchFailure("Update", tc.err, tc.running)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in %q", w, err)
				}
			}
			if tc.notWanted != "" && strings.Contains(err.Error(), tc.notWanted) {
				t.Errorf("unexpected %q in %q", tc.notWanted, err)
			}
			if got := errors.Is(err, context.Canceled); got != tc.canceled {
				t.Errorf("errors.Is(canceled) = %v", got)
			}
			var rb *rolledBackError
			if errors.As(err, &rb) != tc.rolled {
				t.Errorf("rolled-back wording: %v", !tc.rolled)
			}
		})
	}
}
