// Command benchimage writes the synthetic images `hack/bench` pulls: N
// layers of pseudo-random (incompressible-ish) bytes from a fixed seed,
// gzip or zstd compressed, so every run produces the same digests, pushed
// to a registry.
//
//	go run ./hack/benchimage -ref 127.0.0.1:5001/bench/pull:latest [-layers 8] [-layer-mib 128]
//	    [-files 1] [-compression gzip|zstd] [-change-layer K] [-cache DIR]
//
// -change-layer K gives layer K other contents (another seed) and leaves the
// others as they are: pushed beside the unchanged image, it is the image a
// re-pull after a one-layer change fetches exactly one layer of.
// -files N splits each layer into N files (many small layers with many small
// files make per-layer and per-file costs show).
package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
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
	"github.com/klauspost/compress/zstd"
)

// changedSeed is added to the seed of the layer -change-layer names.
const changedSeed = 1000

type spec struct {
	layers, mib, files, change int
	compression                string
}

func main() {
	ref := flag.String("ref", "", "where to push the image (REGISTRY/REPO:TAG), plain HTTP for loopback")
	var s spec
	flag.IntVar(&s.layers, "layers", 8, "number of layers")
	flag.IntVar(&s.mib, "layer-mib", 128, "uncompressed MiB of random data per layer")
	flag.IntVar(&s.files, "files", 1, "files per layer (the layer's data split evenly)")
	flag.StringVar(&s.compression, "compression", "gzip", "layer compression: gzip or zstd")
	flag.IntVar(&s.change, "change-layer", -1, "give this layer (0-based) other contents; -1: none")
	cache := flag.String("cache", filepath.Join(os.TempDir(), "occ-benchimage"), "directory for the generated layer files")
	flag.Parse()
	if *ref == "" {
		fmt.Fprintln(os.Stderr, "benchimage: -ref is required")
		os.Exit(2)
	}
	if s.compression != "gzip" && s.compression != "zstd" {
		fmt.Fprintln(os.Stderr, "benchimage: -compression must be gzip or zstd")
		os.Exit(2)
	}
	if s.layers < 1 || s.mib < 1 || s.files < 1 || s.change >= s.layers {
		fmt.Fprintln(os.Stderr, "benchimage: -layers, -layer-mib and -files must be positive and -change-layer below -layers")
		os.Exit(2)
	}
	if err := run(*ref, s, *cache); err != nil {
		fmt.Fprintln(os.Stderr, "benchimage:", err)
		os.Exit(1)
	}
}

func run(refStr string, s spec, cache string) error {
	ref, err := name.ParseReference(refStr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	mt, ext := types.OCILayer, "tar.gz"
	if s.compression == "zstd" {
		mt, ext = types.OCILayerZStd, "tar.zst"
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for i := range s.layers {
		seed := i
		if i == s.change {
			seed += changedSeed
		}
		path := filepath.Join(cache, fmt.Sprintf("layer-s%d-%dmib-%dfiles.%s", seed, s.mib, s.files, ext))
		if _, err := os.Stat(path); err != nil {
			start := time.Now()
			if err := writeLayer(path, s, seed); err != nil {
				return fmt.Errorf("layer %d: %w", i, err)
			}
			fmt.Fprintf(os.Stderr, "generated %s in %s\n", path, time.Since(start).Round(time.Millisecond))
		}
		l, err := tarball.LayerFromFile(path, tarball.WithMediaType(mt))
		if err != nil {
			return err
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: l, MediaType: mt}); err != nil {
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

// writeLayer writes a compressed tar with s.files files that hold s.mib MiB
// of seeded random bytes between them (a few compressible runs so the
// compressor has something to do).
func writeLayer(path string, s spec, seed int) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	var zw io.WriteCloser
	if s.compression == "zstd" {
		// BuildKit's default zstd level (3) is zstd.SpeedDefault.
		if zw, err = zstd.NewWriter(bw, zstd.WithEncoderLevel(zstd.SpeedDefault)); err != nil {
			return err
		}
	} else if zw, err = gzip.NewWriterLevel(bw, gzip.BestSpeed); err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], uint64(seed)+1)
	src := rand.NewChaCha8(key)
	total := int64(s.mib) << 20
	per := total / int64(s.files)
	buf := make([]byte, 1<<20)
	for n := range s.files {
		size := per
		if n == s.files-1 {
			size = total - per*int64(s.files-1)
		}
		fname := fmt.Sprintf("data/layer-%d.bin", seed)
		if s.files > 1 {
			fname = fmt.Sprintf("data/layer-%d/f%04d.bin", seed, n)
		}
		hdr := &tar.Header{Name: fname, Mode: 0o644, Size: size, ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		for left := size; left > 0; {
			chunk := buf[:min(int64(len(buf)), left)]
			_, _ = src.Read(chunk)
			// One run of zeros per chunk (64 KiB per MiB): incompressible-ish, not pure noise.
			clear(chunk[:len(chunk)/16])
			if _, err := tw.Write(chunk); err != nil {
				return err
			}
			left -= int64(len(chunk))
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
