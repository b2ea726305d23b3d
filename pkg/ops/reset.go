package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// ResetOptions are `occ reset container`'s and `occ reset host`'s.
type ResetOptions struct {
	Volumes bool // the volumes' directories (users, workspace, opencode's data)
	Images  bool // occ's image records (current, previous, …) and the image state
	// CleanMounts empties the configured mounts' host directories;
	// PurgeMounts removes them and their config entries.
	CleanMounts, PurgeMounts bool
	// Force deletes without asking; otherwise a confirmation on a
	// terminal, and an error without one.
	Force bool
	// Uninstall removes the systemd unit (reset host; nil: none).
	Uninstall func(ctx context.Context) (string, error)
}

// CheckResetFlags refuses combinations that make no sense.
func CheckResetFlags(o ResetOptions) error {
	if o.CleanMounts && o.PurgeMounts {
		return errdefs.ErrInvalidArgument.WithMessage("--clean-mounts and --purge-mounts exclude each other: --clean-mounts empties the mount directories, --purge-mounts removes them (and their config entries)")
	}
	return nil
}

// ResetResult is what a reset removed, what it could not, and occ's disk
// use before and after.
type ResetResult struct {
	Removed []string `json:"removed"`
	// Remaining is what is still there after a failure, with why.
	Remaining []string  `json:"remaining,omitempty"`
	Before    DiskFacts `json:"disk_before"`
	After     DiskFacts `json:"disk_after"`
	Reclaimed int64     `json:"reclaimed_bytes"`
}

// ResetContainer removes the sandbox container and, as asked, occ's
// volumes, images and the configured mount directories. Everything is
// checked before anything is deleted; past that it goes on after a
// failure and says what remains (result and error both set).
func (e *Env) ResetContainer(ctx context.Context, o ResetOptions) (*ResetResult, error) {
	if err := CheckResetFlags(o); err != nil {
		return nil, err
	}
	s, err := e.Open(ctx, OpenOptions{Lock: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return e.reset(ctx, s, o, false)
}

// ResetHost is the factory reset: the container, the volumes, the
// configured mount directories, optionally the images, the systemd unit,
// then occ's config and data directories.
func (e *Env) ResetHost(ctx context.Context, o ResetOptions) (*ResetResult, error) {
	o.Volumes, o.PurgeMounts, o.CleanMounts = true, true, false
	s, err := e.Open(ctx, OpenOptions{Lock: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return e.reset(ctx, s, o, true)
}

// resetStep is one deletion. When a holding step fails, the rest is not
// attempted (the container still mounts the volumes and directories).
type resetStep struct {
	what    string
	do      func() error
	holding bool
}

func (e *Env) reset(ctx context.Context, s *Session, o ResetOptions, host bool) (*ResetResult, error) {
	res := &ResetResult{Removed: []string{}}
	var dirs []string
	if o.CleanMounts || o.PurgeMounts {
		var err error
		if dirs, err = e.cleanableMountDirs(s.Config); err != nil {
			return nil, err
		}
	}
	var dataDir, configDir []string
	if host {
		var err error
		if dataDir, configDir, err = e.ownDirs(); err != nil {
			return nil, err
		}
	}
	steps := e.resetSteps(ctx, s, o, dirs, dataDir, configDir)
	if err := e.confirmReset(steps, o.Force); err != nil {
		return nil, err
	}
	var err error
	if res.Before, err = MeasureDisk(ctx, s.Client, s.Sandbox, e.Paths); err != nil {
		e.Report.Verbosef("disk usage: %v", err)
	}
	var errs []error
	for i, st := range steps {
		if err := st.do(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", st.what, err))
			res.Remaining = append(res.Remaining, fmt.Sprintf("%s (%v)", st.what, err))
			if st.holding {
				for _, rest := range steps[i+1:] {
					res.Remaining = append(res.Remaining, rest.what+" (not attempted)")
				}
				break
			}
			continue
		}
		res.Removed = append(res.Removed, st.what)
	}
	if res.After, err = MeasureDisk(ctx, s.Client, s.Sandbox, e.Paths); err != nil {
		e.Report.Verbosef("disk usage: %v", err)
	}
	res.Reclaimed = res.Before.Reclaimed(res.After)
	if len(errs) > 0 {
		return res, fmt.Errorf("reset incomplete, still there: %s: %w", strings.Join(res.Remaining, "; "), errors.Join(errs...))
	}
	return res, nil
}

// resetSteps lists the deletions in order: the container first (it holds
// the volumes and mounts), occ's own directories last.
func (e *Env) resetSteps(ctx context.Context, s *Session, o ResetOptions, mountDirs, dataDir, configDir []string) []resetStep {
	var steps []resetStep
	if o.Uninstall != nil {
		// First, so that the service manager does not start the sandbox
		// again once it is removed.
		steps = append(steps, resetStep{what: "systemd unit", do: func() error {
			_, err := o.Uninstall(ctx)
			return err
		}})
	}
	if s.State.State != runtime.StateMissing {
		steps = append(steps, resetStep{what: "container " + s.Sandbox.Name(), holding: true, do: func() error {
			return s.Sandbox.Remove(ctx, runtime.DefaultStopTimeout)
		}})
	}
	if o.Volumes {
		for _, v := range runtime.Volumes {
			dir := filepath.Join(e.Paths.VolumesDir(), v.Name)
			if _, err := os.Lstat(dir); err == nil {
				steps = append(steps, resetStep{what: "volume " + v.Name + " (" + dir + ")", do: func() error { return os.RemoveAll(dir) }})
			}
		}
	}
	if o.Images {
		if imgs, err := s.Client.ImageStore().OwnedImages(ctx); err == nil && len(imgs) > 0 {
			// Only this instance's (upstream: an instance's reset removes
			// its own tags): an image without the instance label is the
			// default instance's.
			var names []string
			for _, img := range imgs {
				if img.Labels[meta.LabelInstance] == e.Paths.Instance {
					names = append(names, img.Name)
				}
			}
			if len(names) > 0 {
				steps = append(steps, resetStep{what: "images " + strings.Join(names, ", "), do: func() error {
					if err := s.Client.ImageStore().DeleteImages(ctx, names...); err != nil {
						return err
					}
					// The provenance of images that are gone.
					if err := os.Remove(e.Paths.StateFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
						return err
					}
					return nil
				}})
			}
		}
	}
	if len(mountDirs) > 0 {
		verb := "contents of mount directories "
		if o.PurgeMounts {
			verb = "mount directories "
		}
		steps = append(steps, resetStep{what: verb + strings.Join(mountDirs, ", "), do: func() error {
			_, err := e.cleanMountDirs(s.Config, mountDirs, o.PurgeMounts)
			return err
		}})
	}
	for _, d := range append(configDir, dataDir...) {
		steps = append(steps, resetStep{what: "directory " + d, do: func() error { return os.RemoveAll(d) }})
	}
	return steps
}

// ownDirs are occ's config and data directories as reset host removes
// them: whole when named after occ (the XDG default), else only occ's
// files in them (a --config file elsewhere shares its directory).
func (e *Env) ownDirs() (dataDir, configFiles []string, err error) {
	if filepath.Base(e.Paths.DataDir) != meta.AppName {
		return nil, nil, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("the data directory %s is not one occ made (not named %s): remove what is yours in it by hand; nothing was deleted", e.Paths.DataDir, meta.AppName))
	}
	// Named after occ, so occ made it (wherever XDG_DATA_HOME points);
	// still never / or a top-level directory.
	if d := filepath.Clean(e.Paths.DataDir); !filepath.IsAbs(d) || filepath.Dir(d) == "/" {
		return nil, nil, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("refusing to delete the data directory %s: it is a top-level directory; nothing was deleted", d))
	}
	dataDir = []string{e.Paths.DataDir}
	if cd := filepath.Clean(e.Paths.ConfigDir()); filepath.Base(cd) == meta.AppName && filepath.Dir(cd) != "/" {
		return dataDir, []string{cd}, nil
	}
	return dataDir, []string{e.Paths.ConfigFile, e.Paths.BackupFile()}, nil
}

// confirmReset lists what will go and asks, unless force.
func (e *Env) confirmReset(steps []resetStep, force bool) error {
	if force || len(steps) == 0 {
		return nil
	}
	list := make([]string, len(steps))
	for i, st := range steps {
		list[i] = st.what
	}
	ok, err := e.Prompt.Confirm("This deletes:\n  "+strings.Join(list, "\n  ")+"\nContinue?", false, "--force")
	if err != nil {
		return err
	}
	if !ok {
		return errdefs.ErrAborted.WithMessage("nothing deleted")
	}
	return nil
}

// RemoveVolumes stops and removes the sandbox container (it mounts them)
// and deletes occ's volumes (`occ uninstall --volumes`). It says what it
// removed.
func (e *Env) RemoveVolumes(ctx context.Context) ([]string, error) {
	s, err := e.Open(ctx, OpenOptions{Lock: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	res, err := e.reset(ctx, s, ResetOptions{Volumes: true, Force: true}, false)
	if res == nil {
		return nil, err
	}
	return res.Removed, err
}
