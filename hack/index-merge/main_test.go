package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// stage pushes what `hack/publish-sandbox --stage` pushes for one platform:
// an OCI index with the platform's image and an attestation manifest that
// names it. It returns the image's digest.
func stage(t *testing.T, ref string, platform v1.Platform) v1.Hash {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	att, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	att = mutate.MediaType(att, types.OCIManifestSchema1)
	imgDigest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &platform}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{
				"vnd.docker.reference.type":   attestationType,
				"vnd.docker.reference.digest": imgDigest.String(),
			},
		}})
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
	return imgDigest
}

func TestMerge(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	reg := strings.TrimPrefix(srv.URL, "http://")
	repo := reg + "/opencode-cloud/occ-sandbox"
	amd := stage(t, repo+":1.0.0-build-linux-amd64", v1.Platform{OS: "linux", Architecture: "amd64"})
	arm := stage(t, repo+":1.0.0-build-linux-arm64", v1.Platform{OS: "linux", Architecture: "arm64"})

	tests := []struct {
		name    string
		sources []string
		anns    []string
		want    []string // platforms of the children, in order
		err     string
	}{
		{name: "two platforms", sources: []string{repo + ":1.0.0-build-linux-amd64", repo + ":1.0.0-build-linux-arm64"},
			anns: []string{"org.opencontainers.image.version=1.0.0", "org.opencode-cloud.publish-key=abc"},
			want: []string{"linux/amd64", "linux/arm64", "unknown/unknown", "unknown/unknown"}},
		{name: "one platform", sources: []string{repo + ":1.0.0-build-linux-arm64"},
			want: []string{"linux/arm64", "unknown/unknown"}},
		{name: "a platform twice", sources: []string{repo + ":1.0.0-build-linux-amd64", repo + ":1.0.0-build-linux-amd64"},
			err: "two images for linux/amd64"},
		{name: "missing source", sources: []string{repo + ":nope"}, err: "is not an index the registry serves"},
		{name: "bad annotation", sources: []string{repo + ":1.0.0-build-linux-amd64"}, anns: []string{"novalue"},
			err: "is not KEY=VALUE"},
		{name: "no source", err: "at least one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := repo + ":merged-" + strings.ReplaceAll(tc.name, " ", "-")
			digest, err := run(context.Background(), tc.sources, []string{dst, repo + ":latest-" + strings.ReplaceAll(tc.name, " ", "-")}, tc.anns)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				// Nothing pushed where the merge was refused.
				if _, err := remote.Head(mustRef(t, dst)); err == nil {
					t.Fatalf("%s exists after a refused merge", dst)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, tag := range []string{dst, repo + ":latest-" + strings.ReplaceAll(tc.name, " ", "-")} {
				d, err := remote.Head(mustRef(t, tag))
				if err != nil {
					t.Fatal(err)
				}
				if d.Digest != digest {
					t.Fatalf("%s is %s, want %s", tag, d.Digest, digest)
				}
			}
			idx, err := remote.Index(mustRef(t, dst))
			if err != nil {
				t.Fatal(err)
			}
			im, err := idx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if im.MediaType != types.OCIImageIndex {
				t.Errorf("media type %s, want %s", im.MediaType, types.OCIImageIndex)
			}
			var got []string
			for _, d := range im.Manifests {
				got = append(got, d.Platform.String())
				if d.Annotations["vnd.docker.reference.type"] == attestationType {
					// Each attestation still names an image of the index.
					ref := d.Annotations["vnd.docker.reference.digest"]
					if ref != amd.String() && ref != arm.String() {
						t.Errorf("attestation %s names %s, not an image of the merge", d.Digest, ref)
					}
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("children %v, want %v", got, tc.want)
			}
			// The images are the staged ones, byte for byte.
			for _, d := range im.Manifests {
				if d.Platform.Architecture == "amd64" && d.Digest != amd || d.Platform.Architecture == "arm64" && d.Digest != arm {
					t.Errorf("%s is %s: the merge changed a staged image", d.Platform, d.Digest)
				}
			}
			for _, kv := range tc.anns {
				k, v, _ := strings.Cut(kv, "=")
				if im.Annotations[k] != v {
					t.Errorf("annotation %s = %q, want %q", k, im.Annotations[k], v)
				}
			}
		})
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
