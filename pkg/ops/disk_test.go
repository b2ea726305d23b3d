package ops

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencode-cloud/occ/pkg/meta"
)

func TestHostDiskOf(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ path, want string }{
		{dir, dir},
		{filepath.Join(dir, "not", "there"), dir},
	}
	for _, tt := range tests {
		h, err := HostDiskOf(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if h.Path != tt.want || h.TotalBytes <= 0 || h.AvailableBytes < 0 || h.UsedBytes < 0 || h.UsedBytes > h.TotalBytes {
			t.Errorf("HostDiskOf(%s) = %+v", tt.path, *h)
		}
	}
}

func TestMeasureDiskWithoutContainerd(t *testing.T) {
	p := meta.Paths{ConfigFile: filepath.Join(t.TempDir(), "config.json"), DataDir: t.TempDir()}
	for dir, size := range map[string]int{p.VolumesDir(): 64 << 10, p.LogsDir(): 8 << 10} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f"), make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d, err := MeasureDisk(context.Background(), nil, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	if d.VolumesBytes < 64<<10 || d.LogsBytes < 8<<10 || d.ImagesBytes != 0 || d.Host == nil ||
		d.TotalBytes != d.VolumesBytes+d.LogsBytes {
		t.Errorf("MeasureDisk = %+v", d)
	}
	if got := (DiskFacts{TotalBytes: 100}).Reclaimed(DiskFacts{TotalBytes: 30}); got != 70 {
		t.Errorf("Reclaimed = %d, want 70", got)
	}
}
