package ops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// MountEntry is one mount of the sandbox.
type MountEntry struct {
	Host      string `json:"host"`
	Container string `json:"container"`
	ReadOnly  bool   `json:"read_only"`
	// Origin is volume (one of occ's volumes), config (the mounts key) or
	// cli (occ start --mount, for the container's life).
	Origin string `json:"origin"`
}

// MountFacts are the sandbox's mounts, as status shows them.
type MountFacts struct {
	Volumes []MountEntry `json:"volumes"`
	Binds   []MountEntry `json:"binds"`
	// InForce: the lists are what the container was created with; false:
	// there is no container and they are what the config asks for.
	InForce bool `json:"in_force"`
	// DiffersFromConfig: the container's bind mounts are not the
	// configured ones (`occ restart` applies the config).
	DiffersFromConfig bool `json:"differs_from_config,omitempty"`
}

// MountsApplied says whether the configured mounts are the ones the
// container has.
type MountsApplied string

const (
	MountsInForce     MountsApplied = "in_force"     // the container has exactly the configured mounts
	MountsDiffer      MountsApplied = "differs"      // it has others: restart to apply
	MountsNoContainer MountsApplied = "no_container" // they apply at the next start
	MountsUnknown     MountsApplied = "unknown"      // containerd could not be asked
)

// mountFacts lists the container's mounts (or the configured ones).
func (e *Env) mountFacts(ctx context.Context, s *Session) *MountFacts {
	f := &MountFacts{Volumes: []MountEntry{}, Binds: []MountEntry{}}
	configured := map[string]bool{}
	for _, spec := range s.Config.Mounts {
		if m, err := meta.ParseMount(spec); err == nil {
			configured[m.String()] = true
		}
	}
	want := runtime.BindsLabelOf(s.Config.Mounts)
	label := want
	if got, exists, err := s.Sandbox.MountsInForce(ctx); err != nil {
		e.Report.Verbosef("mounts: %v", err)
	} else if exists {
		label, f.InForce = got, true
		f.DiffersFromConfig = got != want
	}
	targets := map[string]bool{}
	if label != "" {
		for _, spec := range strings.Split(label, ",") {
			m, err := meta.ParseMount(spec)
			if err != nil {
				continue
			}
			origin := "cli"
			if configured[m.String()] {
				origin = "config"
			}
			targets[m.Target] = true
			f.Binds = append(f.Binds, MountEntry{Host: m.Source, Container: m.Target, ReadOnly: m.ReadOnly, Origin: origin})
		}
	}
	for _, v := range runtime.Volumes {
		if !targets[v.Target] {
			f.Volumes = append(f.Volumes, MountEntry{Host: filepath.Join(e.Paths.VolumesDir(), v.Name), Container: v.Target, Origin: "volume"})
		}
	}
	return f
}

// mountsApplied compares the configured mounts with the container's,
// asking containerd for at most a few seconds (mount changes themselves
// need no containerd).
func (e *Env) mountsApplied(ctx context.Context, cfg *meta.Config) MountsApplied {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rt, err := runtime.ConnectConfig(ctx, cfg)
	if err != nil {
		e.Report.Verbosef("mounts: %v", err)
		return MountsUnknown
	}
	defer rt.Close()
	sb, err := SandboxFor(rt, cfg, e.Paths)
	if err != nil {
		return MountsUnknown
	}
	got, exists, err := sb.MountsInForce(ctx)
	switch {
	case err != nil:
		e.Report.Verbosef("mounts: %v", err)
		return MountsUnknown
	case !exists:
		return MountsNoContainer
	case got != runtime.BindsLabelOf(cfg.Mounts):
		return MountsDiffer
	}
	return MountsInForce
}

// MountAddOptions are `occ mount add`'s.
type MountAddOptions struct {
	// NoValidate skips the host directory checks (it need not exist yet).
	NoValidate bool
	// Force allows a container path under /etc, /usr, /bin, /sbin, /lib or
	// /var (meta.MountNeedsForce).
	Force bool
}

// MountChangeResult is what a mount add or remove did.
type MountChangeResult struct {
	// Change: added, unchanged, replaced (add); removed (remove).
	Change string `json:"change"`
	Mount  string `json:"mount,omitempty"`
	// Replaced are the entries add replaced, Removed those remove dropped.
	Replaced []string `json:"replaced,omitempty"`
	Removed  []string `json:"removed,omitempty"`
	// Undo is the command that puts the config back.
	Undo    string        `json:"undo,omitempty"`
	Applied MountsApplied `json:"applied"`
	Mounts  []string      `json:"mounts"`
}

// MountAdd puts a bind mount into the config, keyed by container path
// (meta.UpsertMount).
func (e *Env) MountAdd(ctx context.Context, spec string, o MountAddOptions) (*MountChangeResult, error) {
	m, err := meta.ParseMount(spec)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	if meta.MountNeedsForce(m) && !o.Force {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the container path %s is inside one of the image's system directories (/etc, /usr, /bin, /sbin, /lib, /var): the mount would hide what the sandbox has there; add --force if that is what you want", m.Target))
	}
	if !o.NoValidate {
		if err := meta.CheckMountSource(m, e.Paths.DataDir, e.Paths.ConfigDir()); err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(err.Error() + " (or add --no-validate to configure it before the directory exists)")
		}
	}
	res := &MountChangeResult{Mount: m.String()}
	cfg, err := e.changeMounts(ctx, func(list []string) ([]string, bool) {
		out, change, replaced := meta.UpsertMount(list, m)
		res.Change, res.Replaced = string(change), replaced
		return out, change != meta.MountUnchanged
	})
	if err != nil {
		return nil, err
	}
	switch meta.MountChange(res.Change) {
	case meta.MountAdded:
		res.Undo = "occ mount remove " + m.Source
	case meta.MountReplaced:
		if len(res.Replaced) > 0 {
			res.Undo = "occ mount add " + res.Replaced[0]
		}
	}
	res.Mounts = cfg.Mounts
	res.Applied = e.mountsApplied(ctx, cfg)
	return res, nil
}

// MountRemove drops every configured mount whose host path is hostPath.
func (e *Env) MountRemove(ctx context.Context, hostPath string) (*MountChangeResult, error) {
	res := &MountChangeResult{Change: "removed"}
	cfg, err := e.changeMounts(ctx, func(list []string) ([]string, bool) {
		out, removed := meta.RemoveMounts(list, hostPath)
		res.Removed = removed
		return out, len(removed) > 0
	})
	if err != nil {
		return nil, err
	}
	if len(res.Removed) == 0 {
		return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("no mount has the host path %s: `occ mount list` shows the configured ones", hostPath))
	}
	res.Undo = "occ mount add " + strings.Join(res.Removed, " && occ mount add ")
	res.Mounts = cfg.Mounts
	res.Applied = e.mountsApplied(ctx, cfg)
	return res, nil
}

// changeMounts changes the config's mounts under occ's lock and saves the
// config when change says it changed something.
func (e *Env) changeMounts(ctx context.Context, change func([]string) ([]string, bool)) (*meta.Config, error) {
	lock, err := e.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	cfg, err := e.LoadConfig()
	if err != nil {
		return nil, err
	}
	out, changed := change(cfg.Mounts)
	if !changed {
		return cfg, nil
	}
	if out == nil {
		out = []string{}
	}
	cfg.Mounts = out
	if err := meta.SaveConfig(e.Paths.ConfigFile, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// MountList is the configured mounts and whether the container has them.
type MountList struct {
	Mounts  []MountEntry  `json:"mounts"`
	Applied MountsApplied `json:"applied"`
}

// MountList lists the configured bind mounts.
func (e *Env) MountList(ctx context.Context) (*MountList, error) {
	cfg, err := e.LoadConfig()
	if err != nil {
		return nil, err
	}
	l := &MountList{Mounts: []MountEntry{}}
	for _, spec := range cfg.Mounts {
		m, err := meta.ParseMount(spec)
		if err != nil {
			e.Report.Warnf("%v", err)
			continue
		}
		l.Mounts = append(l.Mounts, MountEntry{Host: m.Source, Container: m.Target, ReadOnly: m.ReadOnly, Origin: "config"})
	}
	l.Applied = e.mountsApplied(ctx, cfg)
	return l, nil
}

// MountCleanOptions are `occ mount clean`'s.
type MountCleanOptions struct {
	// Purge removes the directories themselves and their config entries;
	// otherwise only what is in them.
	Purge bool
	// Force deletes without asking.
	Force bool
}

// CleanResult is what cleaning the configured mount directories did.
type CleanResult struct {
	Purged  bool     `json:"purged"`
	Cleaned []string `json:"cleaned"`
	// Skipped are directories that did not exist.
	Skipped []string `json:"skipped,omitempty"`
	// Failed are the directories not (fully) cleaned, with why.
	Failed []string `json:"failed,omitempty"`
}

// MountClean empties (or with Purge removes) the host directories of the
// configured mounts, after a confirmation (or Force). The container must
// not be running. Every directory is checked before any is touched: one
// occ must not clean (meta.CheckCleanable) refuses the whole command.
func (e *Env) MountClean(ctx context.Context, o MountCleanOptions) (*CleanResult, error) {
	s, err := e.Open(ctx, OpenOptions{Lock: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if s.Running() {
		return nil, errdefs.ErrFailedPrecondition.WithMessage("the sandbox is running and has these directories mounted: stop it first (occ stop), or use `occ reset container --clean-mounts`")
	}
	dirs, err := e.cleanableMountDirs(s.Config)
	if err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return &CleanResult{Purged: o.Purge, Cleaned: []string{}}, nil
	}
	if !o.Force {
		what := "everything inside"
		if o.Purge {
			what = "these directories and their mount entries"
		}
		ok, err := e.Prompt.Confirm(fmt.Sprintf("This deletes %s:\n  %s\nContinue?", what, strings.Join(dirs, "\n  ")), false, "--force")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errdefs.ErrAborted.WithMessage("nothing deleted")
		}
	}
	return e.cleanMountDirs(s.Config, dirs, o.Purge)
}

// cleanableMountDirs are the configured mounts' host directories, each
// checked with meta.CheckCleanable after its symlinks are resolved.
// Directories that do not exist are left out.
func (e *Env) cleanableMountDirs(cfg *meta.Config) ([]string, error) {
	homes := protectedHomes()
	var dirs []string
	seen := map[string]bool{}
	for _, spec := range cfg.Mounts {
		m, err := meta.ParseMount(spec)
		if err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(err.Error() + " (fix it with `occ mount remove` first)")
		}
		real, err := filepath.EvalSymlinks(m.Source)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", m.Source, err)
		}
		for _, p := range []string{m.Source, real} {
			for _, home := range homes {
				if err := meta.CheckCleanable(p, home, e.Paths.DataDir, e.Paths.ConfigDir()); err != nil {
					return nil, errdefs.ErrInvalidArgument.WithMessage(err.Error() + "; nothing was deleted (remove that mount with `occ mount remove " + m.Source + "` to clean the others)")
				}
			}
		}
		if !seen[m.Source] {
			seen[m.Source] = true
			dirs = append(dirs, m.Source)
		}
	}
	return dirs, nil
}

// protectedHomes are the home directories no clean may remove: this
// user's, and under sudo the invoking user's.
func protectedHomes() []string {
	homes := []string{""}
	if h, err := os.UserHomeDir(); err == nil {
		homes = append(homes, h)
	}
	if name := os.Getenv("SUDO_USER"); name != "" {
		if u, err := user.Lookup(name); err == nil && u.HomeDir != "" {
			homes = append(homes, u.HomeDir)
		}
	}
	return homes
}

// cleanMountDirs empties or removes dirs; with purge it also drops their
// mounts from the config. It goes on past a failure and reports it.
func (e *Env) cleanMountDirs(cfg *meta.Config, dirs []string, purge bool) (*CleanResult, error) {
	res := &CleanResult{Purged: purge, Cleaned: []string{}}
	var errs []error
	for _, d := range dirs {
		var err error
		if purge {
			err = os.RemoveAll(d)
		} else {
			err = emptyDir(d)
		}
		if err != nil {
			res.Failed = append(res.Failed, fmt.Sprintf("%s: %v", d, err))
			errs = append(errs, err)
			continue
		}
		res.Cleaned = append(res.Cleaned, d)
	}
	if purge && len(res.Cleaned) > 0 {
		list := cfg.Mounts
		for _, d := range res.Cleaned {
			list, _ = meta.RemoveMounts(list, d)
		}
		if list == nil {
			list = []string{}
		}
		cfg.Mounts = list
		if err := meta.SaveConfig(e.Paths.ConfigFile, cfg); err != nil {
			res.Failed = append(res.Failed, fmt.Sprintf("the mounts of the removed directories are still in %s: %v", e.Paths.ConfigFile, err))
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("could not clean every mount directory (%d left): %w", len(res.Failed), errors.Join(errs...))
	}
	return res, nil
}

// emptyDir removes everything inside dir, keeping dir.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, en := range entries {
		if err := os.RemoveAll(filepath.Join(dir, en.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
