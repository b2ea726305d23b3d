// index-merge joins the per-platform builds of the sandbox into the one
// multi-platform index a release publishes. The release workflow builds each
// platform natively on its own runner (`hack/publish-sandbox --stage`: an
// index holding that platform's image and its attestation manifest, pushed
// under a staging tag); the merge step (`hack/publish-sandbox --merge`) calls
//
//	index-merge -a KEY=VALUE... -t REPO:TAG [-t REPO:TAG...] SOURCE...
//
// which reads every SOURCE index, keeps each child manifest byte for byte
// (same digests, so each attestation still names its image), orders them as
// BuildKit does for a multi-platform build (the images in the order of the
// sources, then their attestation manifests), sets the given annotations on
// the new OCI index and pushes it under each tag. It prints the index digest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// attestationType is the annotation BuildKit puts on an attestation
// manifest's descriptor (its platform is unknown/unknown).
const attestationType = "attestation-manifest"

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var tags, anns listFlag
	fs := flag.NewFlagSet("index-merge", flag.ContinueOnError)
	fs.Var(&tags, "t", "a tag to push the merged index to (REPO:TAG; repeatable)")
	fs.Var(&anns, "a", "an annotation on the merged index (KEY=VALUE; repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: index-merge -a KEY=VALUE... -t REPO:TAG... SOURCE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	digest, err := run(ctx, fs.Args(), tags, anns, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		fmt.Fprintln(os.Stderr, "index-merge:", err)
		os.Exit(1)
	}
	fmt.Println(digest)
}

func run(ctx context.Context, sources, tags, anns []string, opts ...remote.Option) (v1.Hash, error) {
	if len(sources) == 0 || len(tags) == 0 {
		return v1.Hash{}, errors.New("give at least one -t REPO:TAG and one SOURCE index")
	}
	annotations := map[string]string{}
	for _, kv := range anns {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return v1.Hash{}, fmt.Errorf("annotation %q is not KEY=VALUE", kv)
		}
		annotations[k] = v
	}
	opts = append(opts, remote.WithContext(ctx))
	var srcs []v1.ImageIndex
	for _, s := range sources {
		ref, err := name.ParseReference(s)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("source %q: %w", s, err)
		}
		idx, err := remote.Index(ref, opts...)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("source %s is not an index the registry serves: %w", s, err)
		}
		srcs = append(srcs, idx)
	}
	merged, err := merge(srcs, annotations)
	if err != nil {
		return v1.Hash{}, err
	}
	digest, err := merged.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	for _, t := range tags {
		ref, err := name.NewTag(t)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("tag %q: %w", t, err)
		}
		if err := remote.WriteIndex(ref, merged, opts...); err != nil {
			return v1.Hash{}, fmt.Errorf("push %s: %w", ref, err)
		}
	}
	return digest, nil
}

// merge builds one OCI index from the children of srcs: their images first
// (in the order of srcs), then their attestation manifests, each descriptor
// kept as it was (digest, size, platform, annotations). Two images for the
// same platform are refused: the result would be ambiguous to a puller.
func merge(srcs []v1.ImageIndex, annotations map[string]string) (v1.ImageIndex, error) {
	var images, attestations []mutate.IndexAddendum
	seen := map[string]v1.Hash{}
	for i, src := range srcs {
		im, err := src.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("source %d: %w", i+1, err)
		}
		for _, d := range im.Manifests {
			add, err := addendum(src, d)
			if err != nil {
				return nil, fmt.Errorf("source %d, manifest %s: %w", i+1, d.Digest, err)
			}
			if d.Annotations["vnd.docker.reference.type"] == attestationType {
				attestations = append(attestations, add)
				continue
			}
			if d.Platform == nil {
				return nil, fmt.Errorf("source %d: manifest %s has no platform", i+1, d.Digest)
			}
			p := d.Platform.String()
			if prev, dup := seen[p]; dup {
				return nil, fmt.Errorf("two images for %s (%s and %s): give each platform once", p, prev, d.Digest)
			}
			seen[p] = d.Digest
			images = append(images, add)
		}
	}
	if len(images) == 0 {
		return nil, errors.New("the sources hold no image manifest")
	}
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.AppendManifests(idx, append(images, attestations...)...)
	if len(annotations) > 0 {
		idx = mutate.Annotations(idx, annotations).(v1.ImageIndex)
	}
	return idx, nil
}

// addendum wraps a child so that mutate keeps its descriptor and can push it.
func addendum(src v1.ImageIndex, d v1.Descriptor) (mutate.IndexAddendum, error) {
	if d.MediaType.IsIndex() {
		child, err := src.ImageIndex(d.Digest)
		if err != nil {
			return mutate.IndexAddendum{}, err
		}
		return mutate.IndexAddendum{Add: child, Descriptor: d}, nil
	}
	child, err := src.Image(d.Digest)
	if err != nil {
		return mutate.IndexAddendum{}, err
	}
	return mutate.IndexAddendum{Add: child, Descriptor: d}, nil
}
