// Command benchimage writes the synthetic image `hack/bench pull` pulls: N
// gzip layers of pseudo-random (incompressible-ish) bytes from a fixed seed,
// so every run produces the same digests, pushed to a registry.
//
//	go run ./hack/benchimage -ref 127.0.0.1:5001/bench/pull:latest [-layers 8] [-layer-mib 128] [-cache DIR]
package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	ref := flag.String("ref", "", "where to push the image (REGISTRY/REPO:TAG), plain HTTP for loopback")
	layers := flag.Int("layers", 8, "number of layers")
	layerMiB := flag.Int("layer-mib", 128, "uncompressed MiB of random data per layer")
	cache := flag.String("cache", filepath.Join(os.TempDir(), "occ-benchimage"), "directory for the generated layer files")
	flag.Parse()
	if *ref == "" {
		fmt.Fprintln(os.Stderr, "benchimage: -ref is required")
		os.Exit(2)
	}
	if err := run(*ref, *layers, *layerMiB, *cache); err != nil {
		fmt.Fprintln(os.Stderr, "benchimage:", err)
		os.Exit(1)
	}
}

func run(refStr string, n, mib int, cache string) error {
	ref, err := name.ParseReference(refStr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for i := range n {
		path := filepath.Join(cache, fmt.Sprintf("layer-%d-of-%d-%dmib.tar.gz", i, n, mib))
		if _, err := os.Stat(path); err != nil {
			start := time.Now()
			if err := writeLayer(path, i, mib); err != nil {
				return fmt.Errorf("layer %d: %w", i, err)
			}
			fmt.Fprintf(os.Stderr, "generated %s in %s\n", path, time.Since(start).Round(time.Millisecond))
		}
		l, err := tarball.LayerFromFile(path, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return err
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: l, MediaType: types.OCILayer}); err != nil {
			return err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Cmd = []string{"/bin/true"}
	cf.Config.Labels = map[string]string{"org.opencode-cloud.version": "0.0.0-bench"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	if desc, err := remote.Head(ref); err == nil && desc.Digest == d {
		fmt.Fprintf(os.Stderr, "%s is already %s\n", ref, d)
		return nil
	}
	start := time.Now()
	if err := remote.Write(ref, img); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	fmt.Fprintf(os.Stderr, "pushed %s (%s) in %s\n", ref, d, time.Since(start).Round(time.Millisecond))
	return nil
}

// writeLayer writes a gzip tar with one file of mib MiB of seeded random
// bytes (a few compressible runs so gzip has something to do).
func writeLayer(path string, seed, mib int) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, err := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	size := int64(mib) << 20
	hdr := &tar.Header{Name: fmt.Sprintf("data/layer-%d.bin", seed), Mode: 0o644, Size: size, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], uint64(seed)+1)
	src := rand.NewChaCha8(key)
	buf := make([]byte, 1<<20)
	for written := int64(0); written < size; written += int64(len(buf)) {
		_, _ = src.Read(buf)
		// One 64 KiB run of zeros per MiB: incompressible-ish, not pure noise.
		clear(buf[:64<<10])
		if _, err := tw.Write(buf); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
