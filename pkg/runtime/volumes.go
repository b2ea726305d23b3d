package runtime

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// Volume is one of upstream's named volumes, kept as a host directory under
// Paths.VolumesDir()/<Name> and bind-mounted at Target.
type Volume struct {
	Name   string
	Target string
	UID    int
	GID    int
	Mode   fs.FileMode
}

// Owner of the sandbox's home-directory volumes: the image's opencoder user.
const (
	OpencoderUID = 1000
	OpencoderGID = 1000
)

// Volumes are upstream's seven named volumes (same names, same container paths).
var Volumes = []Volume{
	{Name: "opencode-data", Target: "/home/opencoder/.local/share/opencode", UID: OpencoderUID, GID: OpencoderGID, Mode: 0o755},
	{Name: "opencode-state", Target: "/home/opencoder/.local/state/opencode", UID: OpencoderUID, GID: OpencoderGID, Mode: 0o755},
	{Name: "opencode-cache", Target: "/home/opencoder/.cache/opencode", UID: OpencoderUID, GID: OpencoderGID, Mode: 0o755},
	{Name: "opencode-workspace", Target: "/home/opencoder/workspace", UID: OpencoderUID, GID: OpencoderGID, Mode: 0o755},
	{Name: "opencode-config", Target: "/home/opencoder/.config/opencode", UID: OpencoderUID, GID: OpencoderGID, Mode: 0o755},
	{Name: "opencode-users", Target: "/var/lib/opencode-users", UID: 0, GID: 0, Mode: 0o700},
	{Name: "opencode-ssh", Target: "/home/opencoder/.ssh", UID: OpencoderUID, GID: OpencoderGID, Mode: 0o700},
}

// MountPlan is what the container will mount: the volumes that are not
// replaced by a configured mount, then the configured mounts.
type MountPlan struct {
	Volumes []Volume     // to create under VolumesDir
	Binds   []meta.Mount // configured, validated
	VolDir  string
}

// PlanMounts parses and validates the configured mounts (meta.ParseMount,
// then meta.CheckMountSource against the data directory, the parent of
// volumesDir) and drops each volume a mount replaces. It
// creates nothing, so a bad mount is refused before anything exists.
func PlanMounts(cfg *meta.Config, volumesDir string) (MountPlan, error) {
	plan := MountPlan{VolDir: volumesDir}
	byTarget := map[string]int{}
	for _, s := range cfg.Mounts {
		m, err := meta.ParseMount(s)
		if err != nil {
			return MountPlan{}, errdefs.ErrInvalidArgument.WithMessage(err.Error() + " (fix it with `occ config set mounts …`)")
		}
		// The host path must exist and must not lead (through a symlink) to
		// a system path or contain occ's own data (the volumes hold the
		// login users' password hashes).
		if err := meta.CheckMountSource(m, filepath.Dir(volumesDir), ""); err != nil {
			return MountPlan{}, errdefs.ErrInvalidArgument.WithMessage(err.Error())
		}
		if i, dup := byTarget[m.Target]; dup {
			plan.Binds[i] = m // last one wins, as upstream
			continue
		}
		byTarget[m.Target] = len(plan.Binds)
		plan.Binds = append(plan.Binds, m)
	}
	for _, v := range Volumes {
		if _, replaced := byTarget[v.Target]; !replaced {
			plan.Volumes = append(plan.Volumes, v)
		}
	}
	return plan, nil
}

// Source is the host directory of a volume.
func (p MountPlan) Source(v Volume) string { return filepath.Join(p.VolDir, v.Name) }

// Prepare creates the volume directories that do not exist yet, with their
// owner and mode. Existing directories (and their data) are left as they are.
func (p MountPlan) Prepare() error { return p.PrepareFor(Isolation{}) }

// PrepareFor is Prepare for a container with isolation iso: with a user
// namespace the volumes are owned by the host ids their owners have in the
// sandbox (existing volumes are shifted into the range once, and back when
// the user namespace is turned off).
func (p MountPlan) PrepareFor(iso Isolation) error {
	// Private: the volumes hold the user's work, opencode's state and the
	// login records; only root (and the container, through its mounts)
	// needs to reach them.
	if err := meta.EnsurePrivateDir(p.VolDir); err != nil {
		return fmt.Errorf("create volumes directory %s: %w", p.VolDir, err)
	}
	for _, v := range p.Volumes {
		dir := p.Source(v)
		uid, gid := iso.HostID(v.UID), iso.HostID(v.GID)
		if st, err := os.Stat(dir); err == nil {
			if !st.IsDir() {
				return fmt.Errorf("volume %s: %s exists and is not a directory; move it away", v.Name, dir)
			}
			if err := shiftOwner(dir, uid, gid, v.UID, v.GID); err != nil {
				return fmt.Errorf("volume %s: move its files' owners to the sandbox's ids (host %d:%d): %w", v.Name, uid, gid, err)
			}
			continue
		}
		if err := os.Mkdir(dir, v.Mode); err != nil {
			return fmt.Errorf("create volume %s at %s: %w", v.Name, dir, err)
		}
		if err := os.Chmod(dir, v.Mode); err != nil { // umask-proof
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
		if err := os.Lchown(dir, uid, gid); err != nil {
			return fmt.Errorf("volume %s: set owner %d:%d on %s: %w (occ needs root to create volumes owned by the sandbox user)", v.Name, uid, gid, dir, err)
		}
	}
	return nil
}

// OCIMounts renders the plan as OCI bind mounts, parents before children.
func (p MountPlan) OCIMounts() []specs.Mount { return p.OCIMountsFor(Isolation{}) }

// OCIMountsFor is OCIMounts for a container with isolation iso. With a user
// namespace a configured mount of a directory a host user owns is
// idmapped: that user's files are opencoder's in the sandbox, and what
// opencoder writes there is that user's on the host (without it they would
// be nobody's and read-only to the agent). No other id is mapped: the
// sandbox's root and its other accounts cannot write there as any host
// user. A directory root owns is mounted as it is (nobody's inside).
func (p MountPlan) OCIMountsFor(iso Isolation) []specs.Mount {
	var out []specs.Mount
	for _, v := range p.Volumes {
		out = append(out, bindMount(p.Source(v), v.Target, false))
	}
	for _, m := range p.Binds {
		bm := bindMount(m.Source, m.Target, m.ReadOnly)
		if iso.UserNS {
			if st, err := os.Stat(m.Source); err == nil {
				if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid != 0 {
					bm.UIDMappings = []specs.LinuxIDMapping{{ContainerID: sys.Uid, HostID: uint32(iso.HostID(OpencoderUID)), Size: 1}}
					bm.GIDMappings = []specs.LinuxIDMapping{{ContainerID: sys.Gid, HostID: uint32(iso.HostID(OpencoderGID)), Size: 1}}
				}
			}
		}
		out = append(out, bm)
	}
	sort.SliceStable(out, func(i, j int) bool { return depth(out[i].Destination) < depth(out[j].Destination) })
	return out
}

// BindsLabel renders the configured mounts for the container label.
func (p MountPlan) BindsLabel() string {
	s := make([]string, len(p.Binds))
	for i, m := range p.Binds {
		s[i] = m.String()
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

func bindMount(src, dst string, ro bool) specs.Mount {
	mode := "rw"
	if ro {
		mode = "ro"
	}
	return specs.Mount{Type: "bind", Source: src, Destination: dst, Options: []string{"rbind", "rprivate", mode}}
}

func depth(p string) int { return strings.Count(filepath.Clean(p), "/") }
