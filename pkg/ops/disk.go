package ops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// DiskFacts is occ's disk use, from containerd and the data directory, and
// the host disk's: what `occ status` shows, and `occ reset` before and
// after (docs/json.md).
type DiskFacts struct {
	// ImagesBytes is what occ's image records (current, previous, …) hold
	// in containerd's content store, each blob counted once.
	ImagesBytes int64 `json:"images_bytes"`
	// SnapshotsBytes is the container's writable layer (its snapshot).
	SnapshotsBytes int64 `json:"snapshots_bytes"`
	VolumesBytes   int64 `json:"volumes_bytes"`
	LogsBytes      int64 `json:"logs_bytes"`
	// TotalBytes is the sum of the four above.
	TotalBytes int64 `json:"total_bytes"`
	// Host is the file system holding occ's data directory (nil: not
	// known).
	Host *HostDisk `json:"host,omitempty"`
}

// HostDisk is a file system's size and space, as df shows it.
type HostDisk struct {
	Path           string `json:"path"` // the directory measured
	TotalBytes     int64  `json:"total_bytes"`
	AvailableBytes int64  `json:"available_bytes"` // for an unprivileged user
	UsedBytes      int64  `json:"used_bytes"`
}

// Reclaimed is how much less occ uses in after than in d (negative: more).
func (d DiskFacts) Reclaimed(after DiskFacts) int64 { return d.TotalBytes - after.TotalBytes }

// MeasureDisk measures occ's disk use: the content of occ's image records
// in the client's namespace, the writable layer of sb's container (sb may
// be nil), the volumes and logs directories, and the host disk holding the
// data directory. The parts run at once; a part that cannot be read counts
// 0 and its error is returned beside the rest.
func MeasureDisk(ctx context.Context, rt *runtime.Client, sb *runtime.Sandbox, paths meta.Paths) (DiskFacts, error) {
	var (
		d    DiskFacts
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	wg.Go(func() { d.VolumesBytes = diskUsage(paths.VolumesDir()) })
	wg.Go(func() { d.LogsBytes = diskUsage(paths.LogsDir()) })
	wg.Go(func() {
		h, err := HostDiskOf(paths.DataDir)
		if err != nil {
			fail(err)
			return
		}
		d.Host = h
	})
	if rt != nil {
		wg.Go(func() {
			is := rt.ImageStore()
			imgs, err := is.OwnedImages(ctx)
			if err == nil {
				d.ImagesBytes, err = is.ContentUsage(ctx, imgs)
			}
			if err != nil {
				fail(err)
			}
		})
	}
	if sb != nil {
		wg.Go(func() {
			n, err := sb.SnapshotUsage(ctx)
			if err != nil {
				fail(err)
			}
			d.SnapshotsBytes = n
		})
	}
	wg.Wait()
	d.TotalBytes = d.ImagesBytes + d.SnapshotsBytes + d.VolumesBytes + d.LogsBytes
	return d, errors.Join(errs...)
}

// HostDiskOf is the size and space of the file system holding path (or,
// when path does not exist yet, its nearest existing parent).
func HostDiskOf(path string) (*HostDisk, error) {
	dir := filepath.Clean(path)
	for {
		if _, err := os.Stat(dir); err == nil || !errors.Is(err, fs.ErrNotExist) || dir == "/" {
			break
		}
		dir = filepath.Dir(dir)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("host disk of %s: %w", dir, err)
	}
	bs := int64(st.Bsize)
	return &HostDisk{
		Path:           dir,
		TotalBytes:     int64(st.Blocks) * bs,
		AvailableBytes: int64(st.Bavail) * bs,
		UsedBytes:      int64(st.Blocks-st.Bfree) * bs,
	}, nil
}
