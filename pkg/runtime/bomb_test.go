package runtime

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/opencode-cloud/occ/pkg/registry"
)

// nopSnapshotter stands in for the snapshotter in Apply: removing a
// snapshot keeps its directory, so the test can see what was written.
type nopSnapshotter struct{ snapshots.Snapshotter }

func (nopSnapshotter) Remove(ctx context.Context, key string) error { return nil }

// tarOf is a tar with one regular file of content.
func tarOf(t testing.TB, name string, content []byte) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	w, err := zstd.NewWriter(&out, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

// countingReader counts what Apply read of the compressed stream.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func writtenBytes(t *testing.T, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// applyInto runs LayerStream.Apply for one layer into dir.
func applyInto(t *testing.T, dir string, mediaType string, comp, uncompressed []byte, verified bool) (read int64, err error) {
	t.Helper()
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(comp), Size: int64(len(comp))}
	ls := &LayerStream{
		sn:      nopSnapshotter{},
		layers:  []ocispec.Descriptor{desc},
		diffIDs: []digest.Digest{digest.FromBytes(uncompressed)},
		ready:   map[int]preparedSnapshot{0: {key: "k", mounts: []mount.Mount{{Type: "bind", Source: dir, Options: []string{"rbind", "rw"}}}}},
		keys:    map[int]string{},
	}
	cr := &countingReader{r: bytes.NewReader(comp)}
	err = ls.Apply(context.Background(), 0, cr, verified)
	return cr.n, err
}

// TestApplyBoundsUnverifiedExpansion: a decompression bomb served in place
// of a layer (measured before the bound: a 66 KB gzip wrote 63 MB before
// the digest mismatch) now stops after a few MiB, is read to its end (so
// the download completes and its digest is checked) and comes back as
// ErrApplyAfterVerify. The same bytes from the store (verified) unpack in
// full: a legitimately compressible layer still works. An ordinary layer
// is not affected by the bound.
func TestApplyBoundsUnverifiedExpansion(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("archive.Apply with overlay whiteouts needs root")
	}
	const bombSize = 16 << 20
	text := layerLike()
	bomb := tarOf(t, "zeros", make([]byte, bombSize))
	normal := tarOf(t, "text", text)
	for _, tc := range []struct {
		name      string
		mediaType string
		comp      []byte
		raw       []byte
		size      int // of the file in the layer
		verified  bool
		deferred  bool
	}{
		{"gzip bomb", ocispec.MediaTypeImageLayerGzip, gz(bomb), bomb, bombSize, false, true},
		{"zstd bomb", ocispec.MediaTypeImageLayerZstd, zst(t, bomb), bomb, bombSize, false, true},
		{"gzip bomb, verified", ocispec.MediaTypeImageLayerGzip, gz(bomb), bomb, bombSize, true, false},
		{"ordinary gzip layer", ocispec.MediaTypeImageLayerGzip, gz(normal), normal, len(text), false, false},
		{"ordinary zstd layer", ocispec.MediaTypeImageLayerZstd, zst(t, normal), normal, len(text), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			read, err := applyInto(t, dir, tc.mediaType, tc.comp, tc.raw, tc.verified)
			written := writtenBytes(t, dir)
			t.Logf("%d compressed bytes → wrote %d bytes (%.1f MiB)", len(tc.comp), written, float64(written)/(1<<20))
			if read != int64(len(tc.comp)) {
				t.Errorf("read %d of %d compressed bytes: the download would not complete", read, len(tc.comp))
			}
			if !tc.deferred {
				if err != nil {
					t.Fatal(err)
				}
				if written != int64(tc.size) {
					t.Errorf("wrote %d bytes of a %d byte file", written, tc.size)
				}
				return
			}
			if !errors.Is(err, registry.ErrApplyAfterVerify) {
				t.Fatalf("err = %v, want ErrApplyAfterVerify", err)
			}
			limit := int64(UnverifiedFloor + UnverifiedRatio*len(tc.comp) + 1<<20) // + one read's overshoot
			if written > limit || written > 8<<20 {
				t.Errorf("a %d byte bomb wrote %d bytes before its digest was known (bound %d)", len(tc.comp), written, limit)
			}
		})
	}
}

// BenchmarkApplyBound: what the bound costs an ordinary layer, without
// the disk: gunzip, the bound (or not), sha256, as Apply reads an 8 MiB
// text-like layer.
func BenchmarkApplyBound(b *testing.B) {
	raw := tarOf(b, "text", layerLike())
	comp := gz(raw)
	for _, bounded := range []bool{false, true} {
		b.Run(fmt.Sprintf("bounded=%v", bounded), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				src := &errReader{r: bytes.NewReader(comp)}
				dr, err := decompress(context.Background(), ocispec.MediaTypeImageLayerGzip, src)
				if err != nil {
					b.Fatal(err)
				}
				var r io.Reader = dr
				if bounded {
					r = &boundedReader{r: dr, src: src}
				}
				dg := digest.Canonical.Digester()
				if _, err := io.Copy(dg.Hash(), r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// zstdFrame is a minimal zstd frame whose header asks for a window of
// 1<<windowLog bytes, holding payload in one raw block (RFC 8878 3.1.1).
func zstdFrame(windowLog int, payload []byte) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, byte((windowLog - 10) << 3)}
	h := 1 | len(payload)<<3 // last block, raw
	b = append(b, byte(h), byte(h>>8), byte(h>>16))
	return append(b, payload...)
}

// TestZstdWindowBounded: a zstd frame that asks for a window larger than
// MaxZstdWindow (memory the decoder would allocate for each layer; 512 MiB
// before) is refused as corrupt; one within it decodes.
func TestZstdWindowBounded(t *testing.T) {
	for _, tc := range []struct {
		windowLog int
		ok        bool
	}{{23, true}, {27, true}, {28, false}, {29, false}} {
		dr, err := decompress(context.Background(), ocispec.MediaTypeImageLayerZstd, bytes.NewReader(zstdFrame(tc.windowLog, []byte("hello"))))
		var out []byte
		if err == nil {
			out, err = io.ReadAll(dr)
			dr.Close()
		}
		if tc.ok != (err == nil) || (tc.ok && string(out) != "hello") {
			t.Errorf("window %d MiB: %q %v", 1<<tc.windowLog>>20, out, err)
		}
	}
	// In a layer: refused as corrupt (the registry's fault), not as a
	// local failure.
	if os.Geteuid() == 0 {
		raw := tarOf(t, "f", []byte("hello"))
		_, err := applyInto(t, t.TempDir(), ocispec.MediaTypeImageLayerZstd, zstdFrame(28, raw), raw, false)
		if !errdefs.IsDataLoss(err) {
			t.Errorf("a 256 MiB window in a layer: %v, want data loss", err)
		}
	}
}
