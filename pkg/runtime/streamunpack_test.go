package runtime

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"

	"github.com/containerd/errdefs"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// layerLike is ~8 MiB of text-like bytes (compresses about 3:1, like
// binaries and source in a real layer).
func layerLike() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the quick brown fox jumps over a lazy dog func return if else for range package import struct interface error nil")
	var b bytes.Buffer
	for b.Len() < 8<<20 {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(8) == 0 {
			b.WriteByte(byte(r.IntN(256)))
		}
		b.WriteByte(' ')
	}
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := stdgzip.NewWriter(&out)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

// BenchmarkGunzip compares the decoders the in-process unpack could use.
func BenchmarkGunzip(b *testing.B) {
	raw := layerLike()
	comp := gz(raw)
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			r, _ := stdgzip.NewReader(bytes.NewReader(comp))
			_, _ = io.Copy(io.Discard, r)
		}
	})
	b.Run("klauspost", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			r, _ := kgzip.NewReader(bytes.NewReader(comp))
			_, _ = io.Copy(io.Discard, r)
		}
	})
	// As in the pull: a reader with ReadByte of its own (generic path) or a
	// plain io.Reader (the decoder adds a bufio.Reader).
	b.Run("stdlib-plain-reader", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			r, _ := stdgzip.NewReader(struct{ io.Reader }{bytes.NewReader(comp)})
			_, _ = io.Copy(io.Discard, r)
		}
	})
	b.Run("klauspost-plain-reader", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			r, _ := kgzip.NewReader(struct{ io.Reader }{bytes.NewReader(comp)})
			_, _ = io.Copy(io.Discard, r)
		}
	})
	b.Run("klauspost-bytereader", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			r, _ := kgzip.NewReader(byteReader{bytes.NewReader(comp)})
			_, _ = io.Copy(io.Discard, r)
		}
	})
}

func TestDecompress(t *testing.T) {
	raw := []byte(strings.Repeat("layer bytes ", 1000))
	var zs bytes.Buffer
	zw, _ := zstd.NewWriter(&zs)
	_, _ = zw.Write(raw)
	_ = zw.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		mt   string
		data []byte
	}{
		{ocispec.MediaTypeImageLayerGzip, gz(raw)},
		{"application/vnd.docker.image.rootfs.diff.tar.gzip", gz(raw)},
		{ocispec.MediaTypeImageLayerZstd, zs.Bytes()},
		{ocispec.MediaTypeImageLayer, raw},
		{"application/vnd.docker.image.rootfs.diff.tar", gz(raw)}, // "tar" that is gzip anyway
	} {
		r, err := decompress(ctx, tc.mt, bytes.NewReader(tc.data))
		if err != nil {
			t.Fatalf("%s: %v", tc.mt, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("%s: %v, %d bytes", tc.mt, err, len(got))
		}
	}
	for _, mt := range []string{"application/vnd.oci.image.layer.v1.tar+gzip+encrypted", "application/octet-stream"} {
		if _, err := decompress(ctx, mt, bytes.NewReader(nil)); !errdefs.IsNotImplemented(err) {
			t.Errorf("%s: err = %v, want not implemented (fall back)", mt, err)
		}
	}
}

func TestWritableDir(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		m    []mountT
		ok   bool
	}{
		{"bind rw", []mountT{{Type: "bind", Source: dir, Options: []string{"rbind", "rw"}}}, true},
		{"bind ro", []mountT{{Type: "bind", Source: dir, Options: []string{"rbind", "ro"}}}, false},
		{"overlay upper", []mountT{{Type: "overlay", Source: "overlay", Options: []string{"upperdir=" + dir, "lowerdir=/x"}}}, true},
		{"not here", []mountT{{Type: "bind", Source: dir + "/missing", Options: []string{"rw"}}}, false},
		{"two mounts", []mountT{{Type: "bind", Source: dir}, {Type: "bind", Source: dir}}, false},
		{"btrfs", []mountT{{Type: "btrfs", Source: "/dev/x"}}, false},
	} {
		got, err := writableDir(tc.m)
		if tc.ok != (err == nil) || (tc.ok && got != dir) {
			t.Errorf("%s: %q %v", tc.name, got, err)
		}
		if err != nil && !errdefs.IsNotImplemented(err) {
			t.Errorf("%s: %v is not a fall-back error", tc.name, err)
		}
	}
}

type mountT = mount.Mount

type byteReader struct{ r *bytes.Reader }

func (b byteReader) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b byteReader) ReadByte() (byte, error)    { return b.r.ReadByte() }

// TestZstdDecoderReuse: layers decoded one after another and side by side
// reuse pooled decoders (their windows), and a decoder that stopped on a
// corrupt or cut stream, or was closed before its end, decodes the next
// layer whole.
func TestZstdDecoderReuse(t *testing.T) {
	ctx := context.Background()
	enc, err := zstd.NewWriter(nil, zstd.WithWindowSize(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	big := layerLike()
	good := [][]byte{big, []byte("hello"), big[:1<<20]}
	bad := enc.EncodeAll(big, nil)
	for _, tc := range []struct {
		name  string
		input []byte
	}{
		{"after a whole layer", enc.EncodeAll(big[:3<<20], nil)},
		{"after a cut layer", bad[:len(bad)/2]},
		{"after a corrupt layer", append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0xff}, bad[5:1000]...)},
		{"after a layer closed early", bad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dr, err := decompress(ctx, ocispec.MediaTypeImageLayerZstd, bytes.NewReader(tc.input))
			if err == nil {
				_, _ = io.CopyN(io.Discard, dr, 1<<20)
				dr.Close()
			}
			// Two at once, then one: every one whole.
			open := make([]io.ReadCloser, len(good))
			for i, want := range good {
				if open[i], err = decompress(ctx, ocispec.MediaTypeImageLayerZstd, bytes.NewReader(enc.EncodeAll(want, nil))); err != nil {
					t.Fatal(err)
				}
			}
			for i, want := range good {
				got, err := io.ReadAll(open[i])
				open[i].Close()
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("layer %d: %d bytes, want %d; %v", i, len(got), len(want), err)
				}
			}
		})
	}
}
