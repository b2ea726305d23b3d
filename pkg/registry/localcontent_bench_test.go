package registry

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

// BenchmarkBlobFileWrite writes a 128 MiB blob file through localIngest
// in 2 MiB writes against chunkSize writes. Every iteration writes a new file, kept until
// the end, as a pull does. Run it with -benchtime=8x after dropping the
// page cache (echo 1 >/proc/sys/vm/drop_caches) to see the cost of fresh
// page cache folios; see docs/performance.md.
func BenchmarkBlobFileWrite(b *testing.B) {
	const total = 128 << 20
	buf := make([]byte, 2<<20)
	for i := range buf {
		buf[i] = byte(i*7 + i>>11)
	}
	for _, bc := range []struct {
		name  string
		write int
	}{
		{"write=2MiB", 2 << 20},
		{"write=chunkSize", chunkSize},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(total)
			for i := 0; b.Loop(); i++ {
				// Files are kept until the end, as a pull keeps its
				// blobs: every write needs new page cache memory.
				f, err := os.Create(filepath.Join(dir, fmt.Sprintf("blob-%d", i)))
				if err != nil {
					b.Fatal(err)
				}
				l := &localIngest{f: f, dg: digest.SHA256.Digester()}
				for l.n < total {
					if _, err := l.Write(buf[:bc.write]); err != nil {
						b.Fatal(err)
					}
				}
				_ = f.Close()
			}
		})
	}
}
