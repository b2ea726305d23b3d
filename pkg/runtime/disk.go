package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// OwnedImage says whether an image record is one of occ's sandbox records
// (current, previous, the update's staging record, …): its name is in
// occ's local repository. Records of other tools in the namespace, and
// images pulled under their registry names, are not occ's.
func OwnedImage(name string) bool {
	return strings.HasPrefix(name, meta.LocalImageRepo+":") || strings.HasPrefix(name, meta.LocalImageRepo+"@")
}

// OwnedImages lists occ's image records in the client's namespace
// (OwnedImage), sorted by name.
func (s *ImageStore) OwnedImages(ctx context.Context) ([]images.Image, error) {
	all, err := s.c.ctr.ImageService().List(s.c.WithNamespace(ctx))
	if err != nil {
		return nil, fmt.Errorf("list images in namespace %s: %w", s.c.Namespace, err)
	}
	var out []images.Image
	for _, img := range all {
		if OwnedImage(img.Name) {
			out = append(out, img)
		}
	}
	return out, nil
}

// ContentUsage is the size in containerd's content store of what the
// records point at, for the client's platform (index, manifest, config,
// compressed layers), each blob counted once however many records share
// it. Blobs the store does not hold are not counted.
func (s *ImageStore) ContentUsage(ctx context.Context, imgs []images.Image) (int64, error) {
	ctx = s.c.WithNamespace(ctx)
	cs := s.c.ctr.ContentStore()
	seen := map[string]bool{}
	var total int64
	count := images.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		if seen[desc.Digest.String()] {
			return nil, images.ErrSkipDesc
		}
		seen[desc.Digest.String()] = true
		info, err := cs.Info(ctx, desc.Digest)
		if errdefs.IsNotFound(err) {
			return nil, images.ErrSkipDesc
		} else if err != nil {
			return nil, err
		}
		total += info.Size
		return nil, nil
	})
	pm := platforms.Default()
	children := images.LimitManifests(images.FilterPlatforms(images.ChildrenHandler(cs), pm), pm, 1)
	for _, img := range imgs {
		err := images.Walk(ctx, images.Handlers(count, children), img.Target)
		if err != nil && !errdefs.IsNotFound(err) {
			return total, fmt.Errorf("size of image %s: %w", img.Name, err)
		}
	}
	return total, nil
}

// DeleteImages deletes the records called names and waits for
// containerd's garbage collection, so that their content and snapshots
// are gone (and the disk space back) when it returns. Missing records are
// fine.
func (s *ImageStore) DeleteImages(ctx context.Context, names ...string) error {
	ctx = s.c.WithNamespace(ctx)
	is := s.c.ctr.ImageService()
	var errs []error
	for i, n := range names {
		var opts []images.DeleteOpt
		if i == len(names)-1 {
			opts = append(opts, images.SynchronousDelete())
		}
		if err := is.Delete(ctx, n, opts...); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete image %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// SnapshotUsage is the disk the container's writable layer (its root
// file system's own snapshot) uses; 0 when there is no container.
func (s *Sandbox) SnapshotUsage(ctx context.Context) (int64, error) {
	ctx = s.ctx(ctx)
	c, err := s.container(ctx)
	if errors.Is(err, errdefs.ErrNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("read container %s: %w", s.name, err)
	}
	if info.SnapshotKey == "" {
		return 0, nil
	}
	u, err := s.client.ctr.SnapshotService(info.Snapshotter).Usage(ctx, info.SnapshotKey)
	if errdefs.IsNotFound(err) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("snapshot usage of %s: %w", s.name, err)
	}
	return u.Size, nil
}

// MountsInForce is the configured bind mounts the container was created
// with (as PlanMounts' BindsLabel writes them), and whether there is a
// container.
func (s *Sandbox) MountsInForce(ctx context.Context) (label string, exists bool, err error) {
	ctx = s.ctx(ctx)
	c, err := s.container(ctx)
	if errors.Is(err, errdefs.ErrNotFound) {
		return "", false, nil
	} else if err != nil {
		return "", false, err
	}
	l, err := c.Labels(ctx)
	if err != nil {
		return "", true, fmt.Errorf("read container labels: %w", err)
	}
	return l[meta.LabelContainerMounts], true, nil
}

// BindsLabelOf is the label PlanMounts' plan would carry for the mount
// specs, without checking the host paths (a mount added with
// --no-validate still compares). Specs that do not parse are left out.
func BindsLabelOf(specs []string) string {
	var p MountPlan
	byTarget := map[string]int{}
	for _, s := range specs {
		m, err := meta.ParseMount(s)
		if err != nil {
			continue
		}
		if i, dup := byTarget[m.Target]; dup {
			p.Binds[i] = m
			continue
		}
		byTarget[m.Target] = len(p.Binds)
		p.Binds = append(p.Binds, m)
	}
	return p.BindsLabel()
}
