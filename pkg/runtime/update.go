package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// Image changes of the sandbox (`occ update`, `occ update --rollback`) work
// on two records of the instance (meta.Paths.Images): Current, which the
// container runs, and Previous, kept for a rollback. A change is a small
// transaction:
//
//  1. SaveImageRecords copies both records and the image-state file, and
//     holds their content under a lease, so that whatever happens next they
//     can be put back exactly;
//  2. the records change once: Promote (the new image becomes current, the
//     old current becomes previous) or Swap (current and previous trade
//     places), and the state file follows;
//  3. the container is recreated from the new current image (volumes kept)
//     and, if it ran, started and waited for;
//  4. if step 3 fails, or is interrupted, Restore puts the records and the
//     state file back as they were and the container is recreated from the
//     old image again (with a context of its own: a Ctrl-C never leaves the
//     sandbox without a container).
//
// A new image is pulled or built into the Update record before any of
// this, so a failed pull or build changes neither record.

// RecordLeaseExpiry bounds how long a saved record's content is held after
// an occ that was killed half-way through an image change.
const RecordLeaseExpiry = time.Hour

// DefaultRollbackTimeout bounds a rollback (recreate, start, readiness).
const DefaultRollbackTimeout = 5 * time.Minute

// ImageRecords is a saved copy of the sandbox's image records and of the
// image-state file, taken before an image change.
type ImageRecords struct {
	// Current and Previous are the records as they were; nil when missing.
	Current, Previous *images.Image
	// State is the state file's content; HadState says whether it existed.
	State    []byte
	HadState bool

	names     meta.ImageNames
	stateFile string
	c         *Client
	lease     *leases.Lease
}

// SaveImageRecords reads the instance's current and previous records
// (names) and the state file (stateFile may be "" for none), and holds the
// records' content under a lease until Release.
func (c *Client) SaveImageRecords(ctx context.Context, names meta.ImageNames, stateFile string) (*ImageRecords, error) {
	ctx = c.WithNamespace(ctx)
	r := &ImageRecords{names: names, stateFile: stateFile, c: c}
	for _, x := range []struct {
		name string
		dst  **images.Image
	}{{names.Current, &r.Current}, {names.Previous, &r.Previous}} {
		img, err := c.ctr.ImageService().Get(ctx, x.name)
		switch {
		case errdefs.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("read image record %s: %w", x.name, err)
		default:
			*x.dst = &img
		}
	}
	if stateFile != "" {
		data, err := os.ReadFile(stateFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("read the image state %s: %w", stateFile, err)
		default:
			r.State, r.HadState = data, true
		}
	}
	lm := c.ctr.LeasesService()
	l, err := lm.Create(ctx, leases.WithRandomID(), leases.WithExpiration(RecordLeaseExpiry),
		leases.WithLabel(meta.ManagedByLabel, meta.ManagedByValue), leases.WithLabel(meta.LabelOwner, meta.ProcessOwner()))
	if err != nil {
		return nil, fmt.Errorf("create a containerd lease for the image change: %w", err)
	}
	r.lease = &l
	for _, img := range []*images.Image{r.Current, r.Previous} {
		if img == nil {
			continue
		}
		if err := lm.AddResource(ctx, l, leases.Resource{ID: img.Target.Digest.String(), Type: "content"}); err != nil {
			r.Release(ctx)
			return nil, fmt.Errorf("hold image %s during the image change: %w", img.Name, err)
		}
	}
	return r, nil
}

// Release lets containerd collect what only the saved records held.
func (r *ImageRecords) Release(ctx context.Context) {
	if r.lease == nil {
		return
	}
	_ = r.c.ctr.LeasesService().Delete(r.c.WithNamespace(context.WithoutCancel(ctx)), *r.lease)
	r.lease = nil
}

// Restore puts both records and the state file back as they were saved
// (a record or file that did not exist is removed).
func (r *ImageRecords) Restore(ctx context.Context) error {
	is := r.c.ImageStore()
	var errs []error
	for _, x := range []struct {
		name string
		img  *images.Image
	}{{r.names.Current, r.Current}, {r.names.Previous, r.Previous}} {
		var err error
		if x.img == nil {
			err = is.DeleteImage(ctx, x.name)
		} else {
			_, err = is.SetImage(ctx, x.name, x.img.Target, x.img.Labels)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("restore image record %s: %w", x.name, err))
		}
	}
	if r.stateFile != "" {
		var err error
		if r.HadState {
			err = meta.WriteFileAtomic(r.stateFile, r.State, 0o600)
		} else if err = os.Remove(r.stateFile); errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("restore the image state: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Promote makes the record staging the current image and the saved current
// image the previous one (the one before that is let go), deletes staging
// and writes the state file. It is the one current→previous move of an
// update.
func (r *ImageRecords) Promote(ctx context.Context, staging string) (images.Image, error) {
	if r.Current == nil {
		return images.Image{}, errdefs.ErrFailedPrecondition.WithMessage("there is no current sandbox image to update; run `occ start` first")
	}
	if err := ctx.Err(); err != nil {
		return images.Image{}, err
	}
	nctx := r.c.WithNamespace(ctx)
	next, err := r.c.ctr.ImageService().Get(nctx, staging)
	if err != nil {
		return images.Image{}, fmt.Errorf("read the new image record %s: %w", staging, err)
	}
	is := r.c.ImageStore()
	// Previous first: should occ die in between, current still names the
	// image the container runs.
	if _, err := is.SetImage(ctx, r.names.Previous, r.Current.Target, r.Current.Labels); err != nil {
		return images.Image{}, fmt.Errorf("keep the current image as %s: %w", r.names.Previous, err)
	}
	cur, err := is.SetImage(ctx, r.names.Current, next.Target, next.Labels)
	if err != nil {
		return images.Image{}, fmt.Errorf("record the new image as %s: %w", r.names.Current, err)
	}
	if err := is.DeleteImage(ctx, staging); err != nil {
		return images.Image{}, fmt.Errorf("remove the staging record %s: %w", staging, err)
	}
	return cur, r.writeState(&cur, r.Current)
}

// Swap makes the saved previous image current and the saved current image
// previous (`occ update --rollback`), and writes the state file.
func (r *ImageRecords) Swap(ctx context.Context) (images.Image, error) {
	if r.Previous == nil {
		return images.Image{}, errdefs.ErrNotFound.WithMessage("no previous sandbox image to roll back to: occ keeps one when `occ update` replaces the image, so run `occ update` first")
	}
	if r.Current == nil {
		return images.Image{}, errdefs.ErrFailedPrecondition.WithMessage("there is no current sandbox image; run `occ start` first")
	}
	if err := ctx.Err(); err != nil {
		return images.Image{}, err
	}
	is := r.c.ImageStore()
	// Both contents are held by the lease while the records trade places.
	cur, err := is.SetImage(ctx, r.names.Current, r.Previous.Target, r.Previous.Labels)
	if err != nil {
		return images.Image{}, fmt.Errorf("record the previous image as %s: %w", r.names.Current, err)
	}
	if _, err := is.SetImage(ctx, r.names.Previous, r.Current.Target, r.Current.Labels); err != nil {
		return images.Image{}, fmt.Errorf("keep the current image as %s: %w", r.names.Previous, err)
	}
	return cur, r.writeState(&cur, r.Current)
}

func (r *ImageRecords) writeState(cur, prev *images.Image) error {
	if r.stateFile == "" {
		return nil
	}
	var old *meta.ImageState
	if r.HadState {
		old, _ = meta.ParseState(r.stateFile, r.State) // unreadable: written anew
	}
	st := StateFor(cur, prev, old)
	if st == nil {
		if err := os.Remove(r.stateFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove the image state: %w", err)
		}
		return nil
	}
	return meta.SaveState(r.stateFile, st)
}

// StateFor is the image state describing cur and prev. Their provenance
// labels are the authority; for a record without them, the entry of old
// (the state before the change) that names the record's digest fills in.
// It is nil when cur's provenance is unknown.
func StateFor(cur, prev *images.Image, old *meta.ImageState) *meta.ImageState {
	c := provenanceOf(cur, old)
	if c == nil {
		return nil
	}
	return &meta.ImageState{Provenance: *c, Previous: provenanceOf(prev, old)}
}

func provenanceOf(img *images.Image, old *meta.ImageState) *meta.Provenance {
	if img == nil {
		return nil
	}
	if p, ok := meta.ProvenanceFromLabels(img.Labels); ok {
		return &p
	}
	if old == nil {
		return nil
	}
	d := img.Target.Digest.String()
	for _, p := range []*meta.Provenance{&old.Provenance, old.Previous} {
		if p != nil && p.Source != "" && (p.ManifestDigest == d || p.IndexDigest == d) {
			c := *p
			return &c
		}
	}
	return nil
}

// ContainerSettings returns a copy of cfg carrying the published address,
// network mode and bind mounts the existing container was created with
// (its labels), so that recreating it for an image change changes the
// image and nothing else, per-run `occ start -p/--mount` settings
// included. A label that is missing or unreadable leaves cfg's value.
func ContainerSettings(cfg *meta.Config, labels map[string]string) *meta.Config {
	c := *cfg
	c.Mounts = append([]string(nil), cfg.Mounts...)
	if host, port, err := net.SplitHostPort(labels[meta.LabelContainerPublished]); err == nil {
		if p, err := strconv.Atoi(port); err == nil && p > 0 && p < 65536 && host != "" {
			c.BindAddress, c.OpencodeWebPort = host, p
		}
	}
	switch m := labels[meta.LabelContainerNetworkMode]; m {
	case meta.NetworkCNI, meta.NetworkHost:
		c.NetworkMode = m
	}
	if l, ok := labels[meta.LabelContainerMounts]; ok {
		var mounts []string
		good := true
		for _, s := range strings.Split(l, ",") {
			if s == "" {
				continue
			}
			if _, err := meta.ParseMount(s); err != nil {
				good = false
				break
			}
			mounts = append(mounts, s)
		}
		if good {
			c.Mounts = mounts
		}
	}
	return &c
}

// SwitchOptions describe one image change of the sandbox.
type SwitchOptions struct {
	// Change changes the saved records: r.Promote(ctx, staging) for an
	// update, r.Swap(ctx) for a rollback. It runs before the container is
	// touched; when it fails the records are put back.
	Change func(ctx context.Context, r *ImageRecords) (images.Image, error)
	// StateFile is the image-state file that follows the records.
	StateFile string
	// StopTimeout is the old container's SIGTERM grace (default
	// DefaultStopTimeout).
	StopTimeout time.Duration
	// Ready tunes the readiness wait of the new container.
	Ready ReadyOptions
	// RollbackTimeout bounds the rollback, which runs even when the
	// context is cancelled (default DefaultRollbackTimeout).
	RollbackTimeout time.Duration
	// Notify, if set, is told what happens next, in a few words.
	Notify func(msg string)
}

// SwitchResult is a finished image change.
type SwitchResult struct {
	// Image is the current record now.
	Image images.Image
	// Recreated: the container existed and was recreated from Image.
	Recreated bool
	// Started: it had been running, and runs again and answers.
	Started bool
}

// SwitchError is an image change that failed after the old container was
// touched. The change was rolled back: the records and state are as they
// were, and the container was recreated (and, if it ran, started) from
// Restored; RollbackErr says what went wrong with that, if anything.
type SwitchError struct {
	Cause       error
	Restored    images.Image
	RollbackErr error
	// Interrupted: the change failed because its context was cancelled
	// (Ctrl-C); Unwrap then also yields context.Canceled.
	Interrupted bool
}

func (e *SwitchError) Error() string {
	if e.RollbackErr != nil {
		return fmt.Sprintf("%v; rolling back to %s also failed: %v", e.Cause, e.Restored.Target.Digest, e.RollbackErr)
	}
	return fmt.Sprintf("%v; rolled back to %s", e.Cause, e.Restored.Target.Digest)
}

func (e *SwitchError) Unwrap() []error {
	errs := []error{e.Cause}
	if e.RollbackErr != nil {
		errs = append(errs, e.RollbackErr)
	}
	if e.Interrupted {
		errs = append(errs, context.Canceled)
	}
	return errs
}

// SwitchImage runs an image change (see the top of this file): it saves
// the records, applies o.Change, recreates the container from the new
// current image when one exists, starts it and waits until it answers when
// it was running, and rolls everything back when that fails or the context
// is cancelled. A stopped container is recreated but left stopped; without
// a container only the records change.
func (s *Sandbox) SwitchImage(ctx context.Context, o SwitchOptions) (*SwitchResult, error) {
	if o.Change == nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("runtime: SwitchImage needs a Change")
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.RollbackTimeout <= 0 {
		o.RollbackTimeout = DefaultRollbackTimeout
	}
	notify := o.Notify
	if notify == nil {
		notify = func(string) {}
	}
	if _, err := PlanMounts(s.opts.Config, s.opts.Paths.VolumesDir()); err != nil {
		return nil, err
	}
	st, err := s.Status(ctx)
	if err != nil {
		return nil, err
	}
	exists := st.State != StateMissing
	running := st.State == StateRunning || st.State == StatePaused

	recs, err := s.client.SaveImageRecords(ctx, s.opts.Paths.Images(), o.StateFile)
	if err != nil {
		return nil, err
	}
	defer recs.Release(ctx)
	fresh := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), o.RollbackTimeout)
	}

	img, err := o.Change(ctx, recs)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		rctx, cancel := fresh()
		defer cancel()
		if rerr := recs.Restore(rctx); rerr != nil {
			return nil, fmt.Errorf("%w (putting the image records back failed too: %v)", err, rerr)
		}
		return nil, err
	}
	res := &SwitchResult{Image: img}
	if !exists {
		return res, nil
	}
	err = s.recreate(ctx, running, o, notify)
	if err == nil {
		res.Recreated, res.Started = true, running
		return res, nil
	}
	se := &SwitchError{Cause: err, Interrupted: ctx.Err() != nil}
	if recs.Current != nil {
		se.Restored = *recs.Current
	}
	if se.Interrupted {
		notify("Interrupted; rolling back to the image that ran before...")
	} else {
		notify("Rolling back to the image that ran before...")
	}
	rctx, cancel := fresh()
	defer cancel()
	if rerr := recs.Restore(rctx); rerr != nil {
		se.RollbackErr = rerr
		return nil, se
	}
	se.RollbackErr = s.recreate(rctx, running, o, notify)
	if se.RollbackErr != nil && rctx.Err() == nil {
		// Once more: what failed may have been debris of the change.
		notify(fmt.Sprintf("The rollback failed (%v); trying once more...", se.RollbackErr))
		se.RollbackErr = s.recreate(rctx, running, o, notify)
	}
	return nil, se
}

// recreate replaces the container from the current image record and, when
// start is set, starts it and waits until it answers. Only the wait heeds
// ctx's cancellation: containerd calls cut off half-way (a task half
// created, a shim half started) could leave debris that keeps the rollback
// from creating the old container again, so they always run to their end.
func (s *Sandbox) recreate(ctx context.Context, start bool, o SwitchOptions, notify func(string)) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.StopTimeout+o.RollbackTimeout)
	defer cancel()
	if start {
		notify(fmt.Sprintf("Stopping the sandbox (%s graceful timeout) and recreating it (volumes are kept)...", o.StopTimeout))
	} else {
		notify("Recreating the sandbox container (volumes are kept)...")
	}
	if err := s.Recreate(sctx, o.StopTimeout); err != nil {
		return err
	}
	if !start {
		return ctx.Err()
	}
	notify("Starting the sandbox and waiting until it answers...")
	if err := s.Start(sctx); err != nil {
		return err
	}
	return s.WaitReady(ctx, o.Ready)
}

// SameImage reports whether a and b hold the same image: the same target,
// or the same platform manifest, or a rebuild that differs only in its
// timestamps (same platform, layers and runtime configuration).
func (c *Client) SameImage(ctx context.Context, a, b images.Image) (bool, error) {
	if a.Target.Digest == b.Target.Digest {
		return true, nil
	}
	if ma, mb := a.Labels[meta.LabelManifestDigest], b.Labels[meta.LabelManifestDigest]; ma != "" && ma == mb {
		return true, nil
	}
	is := c.ImageStore()
	ca, err := is.ImageConfig(ctx, a.Target)
	if err != nil {
		return false, fmt.Errorf("read the configuration of %s: %w", a.Name, err)
	}
	cb, err := is.ImageConfig(ctx, b.Target)
	if err != nil {
		return false, fmt.Errorf("read the configuration of %s: %w", b.Name, err)
	}
	return SameImageConfig(ca, cb), nil
}

// SameImageConfig reports whether two image configurations describe the
// same image apart from when it was made: platform, layers (diff IDs) and
// runtime configuration equal; creation times, history and author ignored.
func SameImageConfig(a, b ocispec.Image) bool {
	return a.OS == b.OS && a.Architecture == b.Architecture && a.Variant == b.Variant &&
		slices.Equal(a.RootFS.DiffIDs, b.RootFS.DiffIDs) && len(a.RootFS.DiffIDs) > 0 &&
		reflect.DeepEqual(a.Config, b.Config)
}
