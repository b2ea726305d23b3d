package runtime

import (
	"reflect"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/opencode-cloud/occ/pkg/meta"
)

func TestStateFor(t *testing.T) {
	at := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	pulled := meta.Provenance{Source: meta.SourcePrebuilt, Registry: "ghcr.io", ManifestDigest: "sha256:" + repeat("a"), AcquiredAt: at}
	built := meta.Provenance{Source: meta.SourceBuild, ManifestDigest: "sha256:" + repeat("b"), AcquiredAt: at,
		Build: &meta.BuildInfo{BuildkitVersion: "v0.34.2"}}
	rec := func(d string, p *meta.Provenance) *images.Image {
		img := &images.Image{Name: "x", Target: ocispec.Descriptor{Digest: digest.Digest("sha256:" + repeat(d))}}
		if p != nil {
			img.Labels = p.Labels()
		}
		return img
	}
	for _, tc := range []struct {
		name      string
		cur, prev *images.Image
		old       *meta.ImageState
		want      *meta.ImageState
	}{
		{"labels are the authority", rec("a", &pulled), rec("b", &built),
			&meta.ImageState{Provenance: meta.Provenance{Source: meta.SourceBuild}},
			&meta.ImageState{Provenance: pulled, Previous: &built}},
		{"no previous", rec("a", &pulled), nil, nil, &meta.ImageState{Provenance: pulled}},
		{"unlabelled records found in the old state by digest", rec("b", nil), rec("a", nil),
			&meta.ImageState{Provenance: pulled, Previous: &built},
			&meta.ImageState{Provenance: built, Previous: &pulled}},
		{"unlabelled previous not in the old state", rec("a", &pulled), rec("c", nil),
			&meta.ImageState{Provenance: built}, &meta.ImageState{Provenance: pulled}},
		{"current unknown", rec("c", nil), rec("a", &pulled), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := StateFor(tc.cur, tc.prev, tc.old)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("StateFor:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func repeat(s string) string {
	out := ""
	for len(out) < 64 {
		out += s
	}
	return out
}

func TestContainerSettings(t *testing.T) {
	base := meta.DefaultConfig()
	base.OpencodeWebPort = 3000
	base.BindAddress = "127.0.0.1"
	base.NetworkMode = meta.NetworkCNI
	base.Mounts = []string{"/srv/a:/a"}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		check  func(t *testing.T, c *meta.Config)
	}{
		{"no labels keep the config", nil, func(t *testing.T, c *meta.Config) {
			if c.OpencodeWebPort != 3000 || c.BindAddress != "127.0.0.1" || c.NetworkMode != meta.NetworkCNI || !reflect.DeepEqual(c.Mounts, []string{"/srv/a:/a"}) {
				t.Errorf("%+v", c)
			}
		}},
		{"the container's settings win", map[string]string{
			meta.LabelContainerPublished:   "0.0.0.0:4123",
			meta.LabelContainerNetworkMode: meta.NetworkHost,
			meta.LabelContainerMounts:      "/srv/b:/b:ro,/srv/c:/c",
		}, func(t *testing.T, c *meta.Config) {
			if c.OpencodeWebPort != 4123 || c.BindAddress != "0.0.0.0" || c.NetworkMode != meta.NetworkHost || !reflect.DeepEqual(c.Mounts, []string{"/srv/b:/b:ro", "/srv/c:/c"}) {
				t.Errorf("%+v", c)
			}
		}},
		{"an empty mounts label means none", map[string]string{meta.LabelContainerMounts: ""}, func(t *testing.T, c *meta.Config) {
			if len(c.Mounts) != 0 {
				t.Errorf("mounts %v", c.Mounts)
			}
		}},
		{"IPv6 published address", map[string]string{meta.LabelContainerPublished: "[::1]:3999"}, func(t *testing.T, c *meta.Config) {
			if c.BindAddress != "::1" || c.OpencodeWebPort != 3999 {
				t.Errorf("%+v", c)
			}
		}},
		{"garbage labels are ignored", map[string]string{
			meta.LabelContainerPublished:   "nonsense",
			meta.LabelContainerNetworkMode: "bridge?",
			meta.LabelContainerMounts:      "relative:/x",
		}, func(t *testing.T, c *meta.Config) {
			if c.OpencodeWebPort != 3000 || c.NetworkMode != meta.NetworkCNI || !reflect.DeepEqual(c.Mounts, []string{"/srv/a:/a"}) {
				t.Errorf("%+v", c)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ContainerSettings(base, tc.labels)
			tc.check(t, got)
			if base.OpencodeWebPort != 3000 || !reflect.DeepEqual(base.Mounts, []string{"/srv/a:/a"}) {
				t.Fatalf("the config passed in was changed: %+v", base)
			}
		})
	}
}

func TestSameImageConfig(t *testing.T) {
	mk := func(mut func(*ocispec.Image)) ocispec.Image {
		created := time.Now()
		img := ocispec.Image{
			Created:  &created,
			Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
			RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{"sha256:" + digest.Digest(repeat("1")), "sha256:" + digest.Digest(repeat("2"))}},
			Config: ocispec.ImageConfig{Env: []string{"PATH=/bin"}, Entrypoint: []string{"/entrypoint"},
				Labels: map[string]string{meta.ImageVersionLabel: "1.0.0"}},
			History: []ocispec.History{{CreatedBy: "x"}},
		}
		if mut != nil {
			mut(&img)
		}
		return img
	}
	for _, tc := range []struct {
		name string
		mut  func(*ocispec.Image)
		want bool
	}{
		{"identical", nil, true},
		{"only times and history differ", func(i *ocispec.Image) {
			later := time.Now().Add(time.Hour)
			i.Created = &later
			i.History = nil
			i.Author = "someone"
		}, true},
		{"a layer differs", func(i *ocispec.Image) { i.RootFS.DiffIDs[1] = "sha256:" + digest.Digest(repeat("3")) }, false},
		{"a layer more", func(i *ocispec.Image) {
			i.RootFS.DiffIDs = append(i.RootFS.DiffIDs, "sha256:"+digest.Digest(repeat("3")))
		}, false},
		{"the version label differs", func(i *ocispec.Image) { i.Config.Labels = map[string]string{meta.ImageVersionLabel: "1.0.1"} }, false},
		{"the environment differs", func(i *ocispec.Image) { i.Config.Env = []string{"PATH=/usr/bin"} }, false},
		{"the platform differs", func(i *ocispec.Image) { i.Architecture = "arm64" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SameImageConfig(mk(nil), mk(tc.mut)); got != tc.want {
				t.Errorf("SameImageConfig = %v, want %v", got, tc.want)
			}
		})
	}
	if SameImageConfig(ocispec.Image{}, ocispec.Image{}) {
		t.Error("two empty configurations (no layers) count as the same image")
	}
}
