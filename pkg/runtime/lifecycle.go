package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/runtime/restart"
	"github.com/containerd/errdefs"
	gocni "github.com/containerd/go-cni"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// runcRoot keeps runc's state out of /run/containerd/runc.
func (s *Sandbox) runcRoot() string { return filepath.Join(s.opts.RunDir, "runc") }

// fifoDir keeps exec FIFOs out of /run/containerd/fifo.
func (s *Sandbox) fifoDir() string { return filepath.Join(s.opts.RunDir, "fifo") }

// cniID is the container ID given to CNI: unique per containerd namespace.
func (s *Sandbox) cniID() string { return s.client.Namespace + "-" + s.name }

// Create makes the container record (not the task). It fails with
// errdefs.ErrAlreadyExists if the container exists. Configured mounts are
// validated before anything is created; volume directories are created
// (never emptied) and the image is unpacked if needed.
func (s *Sandbox) Create(ctx context.Context) error {
	ctx = s.ctx(ctx)
	plan, err := PlanMounts(s.opts.Config, s.opts.Paths.VolumesDir())
	if err != nil {
		return err
	}
	if s.networkMode() == meta.NetworkCNI {
		if _, err := cniConflist(s.opts.Network, ""); err != nil {
			return err
		}
	}
	if ok, err := s.Exists(ctx); err != nil {
		return err
	} else if ok {
		return errdefs.ErrAlreadyExists.WithMessage(fmt.Sprintf("container %s already exists; stop and remove it first (occ stop --remove)", s.name))
	}
	image, err := s.client.ctr.GetImage(ctx, s.opts.Image)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("image %s not found in containerd namespace %s: pull or build it first (occ start does both)", s.opts.Image, s.client.Namespace))
		}
		return fmt.Errorf("look up image %s: %w", s.opts.Image, err)
	}
	iso, err := ResolveIsolation(s.opts.Config)
	if err != nil {
		return err
	}
	if err := iso.CheckUserNSRange(); err != nil {
		return err
	}
	runc, err := iso.RuncFor()
	if err != nil {
		return err
	}
	if err := s.ensureUnpacked(ctx, image); err != nil {
		return err
	}
	if err := plan.PrepareFor(iso); err != nil {
		return err
	}
	if err := meta.EnsurePrivateDir(s.opts.Paths.LogsDir()); err != nil {
		return fmt.Errorf("create logs directory: %w", err)
	}
	specOpts, err := s.specOpts(image, plan, iso)
	if err != nil {
		return err
	}
	snapshot := iso.snapshotOpt(ctx, s.client, s.snapshotter(), s.snapshotKey(), image)
	// A snapshot left by an interrupted create would block the new one.
	if sn := s.client.ctr.SnapshotService(s.snapshotter()); sn != nil {
		if _, err := sn.Stat(ctx, s.snapshotKey()); err == nil {
			_ = sn.Remove(ctx, s.snapshotKey())
		}
	}
	_, err = s.client.ctr.NewContainer(ctx, s.name,
		containerd.WithImage(image),
		containerd.WithImageName(image.Name()),
		containerd.WithSnapshotter(s.snapshotter()),
		snapshot,
		containerd.WithImageStopSignal(image, "SIGTERM"),
		containerd.WithRuntime("io.containerd.runc.v2", &options.Options{Root: s.runcRoot(), BinaryName: runc}),
		containerd.WithNewSpec(specOpts...),
		containerd.WithAdditionalContainerLabels(s.labels(image, plan, iso)),
	)
	if err != nil {
		return fmt.Errorf("create container %s: %w", s.name, err)
	}
	return nil
}

func (s *Sandbox) snapshotter() string {
	if s.client.Snapshotter != "" {
		return s.client.Snapshotter
	}
	if s.opts.Config.Snapshotter != "" {
		return s.opts.Config.Snapshotter
	}
	return "overlayfs"
}

func (s *Sandbox) snapshotKey() string { return s.name + "-snapshot" }

func (s *Sandbox) ensureUnpacked(ctx context.Context, image containerd.Image) error {
	ok, err := image.IsUnpacked(ctx, s.snapshotter())
	if err != nil {
		return fmt.Errorf("check whether %s is unpacked for snapshotter %s: %w", image.Name(), s.snapshotter(), err)
	}
	if ok {
		return nil
	}
	if err := image.Unpack(ctx, s.snapshotter()); err != nil {
		return fmt.Errorf("unpack %s with snapshotter %s: %w (is the snapshotter available? see `snapshotter` in the config)", image.Name(), s.snapshotter(), err)
	}
	return nil
}

// Ensure creates the container unless it exists. created says which.
func (s *Sandbox) Ensure(ctx context.Context) (created bool, err error) {
	ok, err := s.Exists(ctx)
	if err != nil || ok {
		return false, err
	}
	if err := s.Create(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// Remove stops the container (SIGTERM, then SIGKILL after timeout) and
// deletes it and its root filesystem snapshot. Volumes are never touched.
// A missing container is not an error.
func (s *Sandbox) Remove(ctx context.Context, timeout time.Duration) error {
	ctx = s.ctx(ctx)
	c, err := s.container(ctx)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if _, err := s.Stop(ctx, timeout); err != nil {
		return err
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container %s: %w", s.name, err)
	}
	return nil
}

// Recreate removes the container (keeping volumes) and creates it again
// from the current options. The new container is not started. The mounts
// are validated before the old container is touched.
func (s *Sandbox) Recreate(ctx context.Context, timeout time.Duration) error {
	if _, err := PlanMounts(s.opts.Config, s.opts.Paths.VolumesDir()); err != nil {
		return err
	}
	if err := s.Remove(ctx, timeout); err != nil {
		return err
	}
	return s.Create(ctx)
}

// Start starts the container's task: port check, log rotation, network
// namespace and CNI (in cni mode), then the task. A running task is left
// alone (no error). A stopped task left by a crash is cleaned up first.
func (s *Sandbox) Start(ctx context.Context) error {
	return s.start(ctx, false)
}

func (s *Sandbox) start(ctx context.Context, reaped bool) error {
	ctx = s.ctx(ctx)
	c, err := s.container(ctx)
	if err != nil {
		return err
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return fmt.Errorf("read container labels: %w", err)
	}
	if task, err := c.Task(ctx, nil); err == nil {
		st, err := task.Status(ctx)
		if err == nil && (st.Status == containerd.Running || st.Status == containerd.Paused || st.Status == containerd.Pausing) {
			return nil
		}
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("clean up the previous task: %w", err)
		}
	}
	// Leftovers of an earlier start (crash, reboot): release them first.
	if err := teardownNetwork(ctx, cniStateFromLabels(labels), s.opts.Config.CNIPluginDirs); err != nil {
		return fmt.Errorf("release the previous network setup: %w", err)
	}

	published := labels[meta.LabelContainerPublished]
	if published == "" {
		published = s.PublishedAddress()
	}
	host, portStr, _ := splitHostPort(published)
	port, _ := strconv.Atoi(portStr)
	if err := CheckPortFree(host, port); err != nil {
		return err
	}

	logPath := labels[meta.LabelContainerLogPath]
	if logPath == "" {
		logPath = s.LogPath()
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return fmt.Errorf("create logs directory: %w", err)
	}
	if err := rotateLog(logPath, MaxLogSize); err != nil {
		return err
	}
	logIO, logURI, logFormat, err := s.logCreator(logPath)
	if err != nil {
		return err
	}

	update := map[string]string{
		meta.LabelContainerLogFormat: logFormat,
		meta.LabelContainerNetNS:     "",
		meta.LabelContainerCNIConfig: "",
		meta.LabelContainerCNIArgs:   "",
		meta.LabelContainerCNIID:     "",
		meta.LabelContainerIPs:       "",
		// While the task starts the restart monitor must ignore the
		// container: a "stopped" status left by the last stop would make
		// it kill the new task. The status is set again once started.
		restart.StatusLabel: "",
	}
	var net *cniState
	if labels[meta.LabelContainerNetworkMode] != meta.NetworkHost {
		ipamDir := filepath.Join(s.opts.Paths.DataDir, "cni", "ipam")
		conf, err := cniConflist(s.opts.Network, ipamDir)
		if err != nil {
			return err
		}
		hostIP := host
		if ip := parseIP(host); ip != nil && ip.IsUnspecified() {
			hostIP = ""
		}
		net = &cniState{ID: s.cniID(), Conflist: conf, Ports: []gocni.PortMapping{{
			HostPort: int32(port), ContainerPort: ContainerPort, Protocol: "tcp", HostIP: hostIP,
		}}}
		if err := releaseStaleNetwork(ctx, *net, s.opts.Config.CNIPluginDirs, s.opts.RunDir, ipamDir, s.opts.Network.Name); err != nil {
			return err
		}
		if err := setupNetwork(ctx, net, s.opts.Config.CNIPluginDirs, s.opts.RunDir); err != nil {
			return err
		}
		ports, _ := json.Marshal(net.Ports)
		update[meta.LabelContainerNetNS] = net.NetNS
		update[meta.LabelContainerCNIConfig] = string(net.Conflist)
		update[meta.LabelContainerCNIArgs] = string(ports)
		update[meta.LabelContainerCNIID] = net.ID
		update[meta.LabelContainerIPs] = strings.Join(net.IPs, ",")
	}
	cleanupNet := func() {
		if net != nil {
			_ = teardownNetwork(context.WithoutCancel(ctx), *net, s.opts.Config.CNIPluginDirs)
		}
	}
	// Record the network first, so a later occ can undo it even if we die now.
	if err := updateLabels(ctx, c, update); err != nil {
		cleanupNet()
		return fmt.Errorf("record network state: %w", err)
	}
	if net != nil {
		spec, err := c.Spec(ctx)
		if err == nil {
			err = c.Update(ctx, containerd.UpdateContainerOpts(containerd.WithSpec(spec, withNetNSPath(net.NetNS))))
		}
		if err != nil {
			cleanupNet()
			return fmt.Errorf("point the container at its network namespace: %w", err)
		}
	}

	s.logBeforeStart, _ = s.LastLogLines(ctx, ReadyLogLines)
	task, err := c.NewTask(ctx, logIO)
	if err != nil {
		cleanupNet()
		if errdefs.IsAlreadyExists(err) {
			// A shim containerd forgot (an occ killed while it stopped the
			// sandbox): stop it and start again, once.
			if reaped {
				return errShimStillThere
			}
			if s.reapOrphanedShim(ctx, c) {
				for range 10 { // until containerd has noticed the shim's exit
					time.Sleep(300 * time.Millisecond)
					if rerr := s.start(ctx, true); !errors.Is(rerr, errShimStillThere) {
						return rerr
					}
				}
			}
			return orphanedShimError(ctx, c.ID(), err)
		}
		if bundle, ok := staleBundlePath(err, s.client.Namespace, c.ID()); ok && !reaped {
			// A bundle directory a killed task creation left: remove it, once.
			if rerr := s.removeStaleBundle(ctx, c, bundle); rerr != nil {
				return rerr
			}
			return s.start(ctx, true)
		}
		if isStaleRuncState(err) && !reaped {
			// runc's state of a killed task creation: delete it, once.
			if rerr := s.removeStaleRuncState(ctx, c); rerr != nil {
				return rerr
			}
			return s.start(ctx, true)
		}
		return fmt.Errorf("create the container task: %w", err)
	}
	if err := task.Start(ctx); err != nil {
		_, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
		cleanupNet()
		return fmt.Errorf("start the container: %w (see the log: %s)", err, logPath)
	}
	after := map[string]string{
		meta.LabelContainerStartedAt: time.Now().UTC().Format(time.RFC3339Nano),
		meta.LabelContainerExitCode:  "",
		meta.LabelContainerExitedAt:  "",
	}
	if s.client.HasRestartMonitor(ctx) {
		for k, v := range restartRunningLabels(logURI) {
			after[k] = v
		}
	}
	if err := updateLabels(ctx, c, after); err != nil {
		return fmt.Errorf("record start: %w", err)
	}
	return nil
}

// killGrace bounds the wait for the task's exit after SIGKILL: a process in
// uninterruptible sleep cannot be killed, and stop must not hang on it.
var killGrace = 30 * time.Second

// StopResult says how the task ended.
type StopResult struct {
	WasRunning bool
	Killed     bool // SIGKILL was needed after the timeout
	ExitCode   uint32
}

// Stop sends the image's stop signal (SIGTERM by default), waits up to
// timeout (DefaultStopTimeout if 0), then SIGKILLs every process. It deletes
// the task, tears down the network and marks the stop as explicit so the
// restart monitor leaves it down. Stopping a stopped container is a no-op.
func (s *Sandbox) Stop(ctx context.Context, timeout time.Duration) (StopResult, error) {
	ctx = s.ctx(ctx)
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	var res StopResult
	c, err := s.container(ctx)
	if err != nil {
		return res, err
	}
	if err := updateLabels(ctx, c, restartStoppingLabels()); err != nil {
		return res, fmt.Errorf("mark the stop for the restart monitor: %w", err)
	}
	task, err := c.Task(ctx, nil)
	switch {
	case errdefs.IsNotFound(err):
		task = nil
	case err != nil:
		return res, fmt.Errorf("load task: %w", err)
	}
	if task != nil {
		st, err := task.Status(ctx)
		if err != nil {
			return res, fmt.Errorf("task status: %w", err)
		}
		if st.Status == containerd.Paused {
			_ = task.Resume(ctx)
		}
		if st.Status != containerd.Stopped {
			res.WasRunning = true
			waitC, err := task.Wait(ctx)
			if err != nil {
				return res, fmt.Errorf("wait for task: %w", err)
			}
			sig, err := containerd.GetStopSignal(ctx, c, syscall.SIGTERM)
			if err != nil {
				sig = syscall.SIGTERM
			}
			if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
				return res, fmt.Errorf("send %v: %w", sig, err)
			}
			timer := time.NewTimer(timeout)
			select {
			case <-waitC:
				timer.Stop()
			case <-timer.C:
				res.Killed = true
				if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
					return res, fmt.Errorf("send SIGKILL: %w", err)
				}
				killWait := time.NewTimer(killGrace)
				select {
				case <-waitC:
					killWait.Stop()
				case <-killWait.C:
					return res, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf(
						"the sandbox's processes did not exit %s after SIGKILL (stuck in the kernel, e.g. on a hung mount); "+
							"check `ctr -n %s tasks ls` and the host's dmesg, then run `occ stop` again", killGrace, s.client.Namespace))
				case <-ctx.Done():
					killWait.Stop()
					return res, ctx.Err()
				}
			case <-ctx.Done():
				timer.Stop()
				return res, ctx.Err()
			}
		}
		exit, err := task.Delete(ctx)
		if err != nil && !errdefs.IsNotFound(err) {
			return res, fmt.Errorf("delete task: %w", err)
		}
		if exit != nil {
			res.ExitCode = exit.ExitCode()
			at := exit.ExitTime()
			if at.IsZero() {
				at = time.Now()
			}
			if err := updateLabels(ctx, c, map[string]string{
				meta.LabelContainerExitCode: strconv.FormatUint(uint64(res.ExitCode), 10),
				meta.LabelContainerExitedAt: at.UTC().Format(time.RFC3339Nano),
			}); err != nil {
				return res, fmt.Errorf("record exit: %w", err)
			}
		}
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return res, fmt.Errorf("read container labels: %w", err)
	}
	if err := teardownNetwork(ctx, cniStateFromLabels(labels), s.opts.Config.CNIPluginDirs); err != nil {
		return res, err
	}
	final := map[string]string{
		meta.LabelContainerNetNS:     "",
		meta.LabelContainerCNIConfig: "",
		meta.LabelContainerCNIArgs:   "",
		meta.LabelContainerCNIID:     "",
		meta.LabelContainerIPs:       "",
	}
	if s.client.HasRestartMonitor(ctx) {
		for k, v := range restartStoppedLabels() {
			final[k] = v
		}
	}
	if err := updateLabels(ctx, c, final); err != nil {
		return res, fmt.Errorf("record stop: %w", err)
	}
	if labels[meta.LabelContainerLogFormat] != LogFormatStamped { // the log driver rotates its own file
		_ = rotateLog(labels[meta.LabelContainerLogPath], MaxLogSize)
	}
	return res, nil
}

func cniStateFromLabels(l map[string]string) cniState {
	st := cniState{ID: l[meta.LabelContainerCNIID], NetNS: l[meta.LabelContainerNetNS]}
	if c := l[meta.LabelContainerCNIConfig]; c != "" {
		st.Conflist = []byte(c)
	}
	if p := l[meta.LabelContainerCNIArgs]; p != "" {
		_ = json.Unmarshal([]byte(p), &st.Ports)
	}
	if ips := l[meta.LabelContainerIPs]; ips != "" {
		st.IPs = strings.Split(ips, ",")
	}
	return st
}
