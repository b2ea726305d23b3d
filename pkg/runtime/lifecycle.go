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
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	gocni "github.com/containerd/go-cni"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// runcRoot keeps runc's state out of /run/containerd/runc.
func (s *Sandbox) runcRoot() string { return filepath.Join(s.opts.RunDir, "runc") }

// fifoDir keeps exec FIFOs out of /run/containerd/fifo.
func (s *Sandbox) fifoDir() string { return filepath.Join(s.opts.RunDir, "fifo") }

// cniID is the container ID given to CNI: unique per (containerd address,
// namespace, container), so that two containerd daemons with the same
// namespace, or two instances, never share one in the host-wide IPAM store.
func (s *Sandbox) cniID() string { return CNIID(s.client.Address, s.client.Namespace, s.name) }

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
	ctx = s.ctx(ctx)
	c, err := s.container(ctx)
	if err != nil {
		return err
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return fmt.Errorf("read container labels: %w", err)
	}
	if running, err := clearPreviousTask(ctx, c); err != nil || running {
		return err
	}
	// Leftovers of an earlier start (crash, reboot): release them first.
	if err := teardownNetwork(ctx, cniStateFromLabels(labels), s.opts.Config.CNIPluginDirs); err != nil {
		return fmt.Errorf("release the previous network setup: %w", err)
	}
	host, port, err := s.publishedPort(labels)
	if err != nil {
		return err
	}
	logPath, err := s.prepareLog(labels)
	if err != nil {
		return err
	}
	logIO, logURI, logFormat, err := s.logCreator(logPath)
	if err != nil {
		return err
	}
	update := clearedNetworkLabels()
	update[meta.LabelContainerLogFormat] = logFormat
	// While the task starts the restart monitor must ignore the container:
	// a "stopped" status left by the last stop would make it kill the new
	// task. The status is set again once started.
	update[restart.StatusLabel] = ""
	net, err := s.setupTaskNetwork(ctx, labels, host, port, update)
	if err != nil {
		return err
	}
	cleanupNet := func() {
		if net != nil {
			_ = teardownNetwork(context.WithoutCancel(ctx), *net, s.opts.Config.CNIPluginDirs)
		}
	}
	if err := attachNetwork(ctx, c, net, update); err != nil {
		cleanupNet()
		return err
	}

	s.logBeforeStart, _ = s.LastLogLines(ctx, ReadyLogLines)
	task, err := s.newTask(ctx, c, logIO)
	if err != nil {
		cleanupNet()
		return err
	}
	if err := task.Start(ctx); err != nil {
		_, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
		cleanupNet()
		return fmt.Errorf("start the container: %w (see the log: %s)", err, logPath)
	}
	return s.recordStart(ctx, c, logURI)
}

// clearPreviousTask deletes a task an earlier run left behind stopped (a
// crash). running says a task runs or is paused: Start leaves it alone.
func clearPreviousTask(ctx context.Context, c containerd.Container) (running bool, err error) {
	task, err := c.Task(ctx, nil)
	if err != nil {
		return false, nil
	}
	st, err := task.Status(ctx)
	if err == nil && (st.Status == containerd.Running || st.Status == containerd.Paused || st.Status == containerd.Pausing) {
		return true, nil
	}
	if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
		return false, fmt.Errorf("clean up the previous task: %w", err)
	}
	return false, nil
}

// publishedPort is the host address the container publishes (its label,
// else the configured one), checked free.
func (s *Sandbox) publishedPort(labels map[string]string) (host string, port int, err error) {
	published := labels[meta.LabelContainerPublished]
	if published == "" {
		published = s.PublishedAddress()
	}
	host, portStr, _ := splitHostPort(published)
	port, _ = strconv.Atoi(portStr)
	err = CheckPortFree(host, port)
	var inUse *PortInUseError
	if errors.As(err, &inUse) {
		inUse.Instance = s.opts.Paths.Instance
	}
	return host, port, err
}

// prepareLog returns the container's log file (its label, else the
// default), its directory created and the file rotated when too big.
func (s *Sandbox) prepareLog(labels map[string]string) (string, error) {
	logPath := labels[meta.LabelContainerLogPath]
	if logPath == "" {
		logPath = s.LogPath()
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return "", fmt.Errorf("create logs directory: %w", err)
	}
	if err := rotateLog(logPath, MaxLogSize); err != nil {
		return "", err
	}
	return logPath, nil
}

// clearedNetworkLabels are the container labels that record a network
// setup, emptied.
func clearedNetworkLabels() map[string]string {
	return map[string]string{
		meta.LabelContainerNetNS:     "",
		meta.LabelContainerCNIConfig: "",
		meta.LabelContainerCNIArgs:   "",
		meta.LabelContainerCNIID:     "",
		meta.LabelContainerIPs:       "",
	}
}

// setupTaskNetwork creates the network namespace and runs CNI for the
// task (nil in host network mode), releasing what a killed occ left on
// the same network first, and records the setup in update.
func (s *Sandbox) setupTaskNetwork(ctx context.Context, labels map[string]string, host string, port int, update map[string]string) (*cniState, error) {
	if labels[meta.LabelContainerNetworkMode] == meta.NetworkHost {
		return nil, nil
	}
	ipamDir := s.opts.IPAMDir
	conf, err := cniConflist(s.opts.Network, ipamDir)
	if err != nil {
		return nil, err
	}
	hostIP := host
	if ip := parseIP(host); ip != nil && ip.IsUnspecified() {
		hostIP = ""
	}
	net := &cniState{ID: s.cniID(), Conflist: conf, Ports: []gocni.PortMapping{{
		HostPort: int32(port), ContainerPort: ContainerPort, Protocol: "tcp", HostIP: hostIP,
	}}}
	if err := releaseStaleNetwork(ctx, *net, s.opts.Config.CNIPluginDirs, s.opts.RunDir, ipamDir, s.opts.Network.Name); err != nil {
		return nil, err
	}
	// What an occ before the host-wide store and the address in the CNI
	// id left: a lease in the data directory's own store, under the id
	// namespace-container (the store is this data directory's, so the
	// id is this sandbox's).
	if legacy := legacyIPAMDir(s.opts.Paths); legacy != ipamDir {
		if old, err := cniConflist(s.opts.Network, legacy); err == nil {
			stale := *net
			stale.ID, stale.Conflist = s.client.Namespace+"-"+s.name, old
			if err := releaseStaleNetwork(ctx, stale, s.opts.Config.CNIPluginDirs, s.opts.RunDir, legacy, s.opts.Network.Name); err != nil {
				return nil, err
			}
		}
	}
	if err := setupNetwork(ctx, net, s.opts.Config.CNIPluginDirs, s.opts.RunDir); err != nil {
		return nil, err
	}
	ports, _ := json.Marshal(net.Ports)
	update[meta.LabelContainerNetNS] = net.NetNS
	update[meta.LabelContainerCNIConfig] = string(net.Conflist)
	update[meta.LabelContainerCNIArgs] = string(ports)
	update[meta.LabelContainerCNIID] = net.ID
	update[meta.LabelContainerIPs] = strings.Join(net.IPs, ",")
	return net, nil
}

// attachNetwork records update (the network first, so a later occ can
// undo it even if this one dies now) and points the container's spec at
// net's namespace.
func attachNetwork(ctx context.Context, c containerd.Container, net *cniState, update map[string]string) error {
	if err := updateLabels(ctx, c, update); err != nil {
		return fmt.Errorf("record network state: %w", err)
	}
	if net == nil {
		return nil
	}
	spec, err := c.Spec(ctx)
	if err == nil {
		err = c.Update(ctx, containerd.UpdateContainerOpts(containerd.WithSpec(spec, withNetNSPath(net.NetNS))))
	}
	if err != nil {
		return fmt.Errorf("point the container at its network namespace: %w", err)
	}
	return nil
}

// shimRetries and shimRetryDelay bound the wait, after an orphaned shim
// was stopped, for containerd to notice its exit and take a new task.
var (
	shimRetries    = 10
	shimRetryDelay = 300 * time.Millisecond
)

// newTask creates the container's task. It recovers, once, from what a
// killed occ can leave behind: a shim containerd forgot, a bundle
// directory, runc's state of the task.
func (s *Sandbox) newTask(ctx context.Context, c containerd.Container, logIO cio.Creator) (containerd.Task, error) {
	task, err := c.NewTask(ctx, logIO)
	if err == nil {
		return task, nil
	}
	bundle, staleBundle := staleBundlePath(err, s.client.Namespace, c.ID())
	switch {
	case errdefs.IsAlreadyExists(err):
		// A shim containerd forgot (an occ killed while it stopped the
		// sandbox): stop it and create the task again.
		return s.newTaskAfterShim(ctx, c, logIO, err)
	case staleBundle:
		// A bundle directory a killed task creation left.
		if rerr := s.removeStaleBundle(ctx, c, bundle); rerr != nil {
			return nil, rerr
		}
	case isStaleRuncState(err):
		// runc's state of a killed task creation.
		if rerr := s.removeStaleRuncState(ctx, c); rerr != nil {
			return nil, rerr
		}
	default:
		return nil, fmt.Errorf("create the container task: %w", err)
	}
	if task, err = c.NewTask(ctx, logIO); err != nil {
		return nil, fmt.Errorf("create the container task: %w", err)
	}
	return task, nil
}

// newTaskAfterShim stops the orphaned shim behind first (an
// already-exists error) and creates the task again while containerd
// catches up (retryNewTask).
func (s *Sandbox) newTaskAfterShim(ctx context.Context, c containerd.Container, logIO cio.Creator, first error) (containerd.Task, error) {
	if !s.reapOrphanedShim(ctx, c) {
		return nil, orphanedShimError(ctx, c.ID(), first)
	}
	task, err := retryNewTask(ctx, func() (containerd.Task, error) { return c.NewTask(ctx, logIO) })
	if errdefs.IsAlreadyExists(err) {
		return nil, orphanedShimError(ctx, c.ID(), first)
	} else if err != nil {
		return nil, fmt.Errorf("create the container task: %w", err)
	}
	return task, nil
}

// retryNewTask calls create up to shimRetries times, shimRetryDelay
// apart (the first after a delay too), while it fails with an
// already-exists error. It returns the first other outcome, the last
// already-exists error, or ctx's error when ctx ends first.
func retryNewTask(ctx context.Context, create func() (containerd.Task, error)) (containerd.Task, error) {
	var err error
	for range shimRetries {
		if serr := sleepCtx(ctx, shimRetryDelay); serr != nil {
			return nil, serr
		}
		var task containerd.Task
		if task, err = create(); !errdefs.IsAlreadyExists(err) {
			return task, err
		}
	}
	return nil, err
}

// sleepCtx sleeps for d, or until ctx ends (its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// recordStart records the start time (and, with a restart monitor, the
// labels that make it restart the task).
func (s *Sandbox) recordStart(ctx context.Context, c containerd.Container, logURI string) error {
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
	Killed     bool // SIGKILL was sent: after the timeout, or on request
	// KilledOnRequest: SIGKILL was sent because force was closed before the
	// timeout (StopOrKill).
	KilledOnRequest bool
	ExitCode        uint32
}

// Stop sends the image's stop signal (SIGTERM by default), waits up to
// timeout (DefaultStopTimeout if 0), then SIGKILLs every process. It deletes
// the task, tears down the network and marks the stop as explicit so the
// restart monitor leaves it down. Stopping a stopped container is a no-op.
func (s *Sandbox) Stop(ctx context.Context, timeout time.Duration) (StopResult, error) {
	return s.StopOrKill(ctx, timeout, nil)
}

// StopOrKill is Stop, with SIGKILL sent at once when force is closed
// during the graceful wait (occ stop's "Press Enter to force kill now").
// A nil force never fires.
func (s *Sandbox) StopOrKill(ctx context.Context, timeout time.Duration, force <-chan struct{}) (StopResult, error) {
	ctx = s.ctx(ctx)
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	c, err := s.container(ctx)
	if err != nil {
		return StopResult{}, err
	}
	if err := updateLabels(ctx, c, restartStoppingLabels()); err != nil {
		return StopResult{}, fmt.Errorf("mark the stop for the restart monitor: %w", err)
	}
	res, err := s.stopTask(ctx, c, timeout, force)
	if err != nil {
		return res, err
	}
	return res, s.releaseStopped(ctx, c)
}

// stopTask ends the container's task, if it has one, and deletes it,
// recording its exit.
func (s *Sandbox) stopTask(ctx context.Context, c containerd.Container, timeout time.Duration, force <-chan struct{}) (StopResult, error) {
	var res StopResult
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return res, nil
	} else if err != nil {
		return res, fmt.Errorf("load task: %w", err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return res, fmt.Errorf("task status: %w", err)
	}
	if st.Status == containerd.Paused {
		_ = task.Resume(ctx)
	}
	if st.Status != containerd.Stopped {
		res.WasRunning = true
		if res.Killed, res.KilledOnRequest, err = s.terminate(ctx, c, task, timeout, force); err != nil {
			return res, err
		}
	}
	res.ExitCode, err = deleteTask(ctx, c, task)
	return res, err
}

// terminate sends the stop signal and waits up to timeout for the exit
// (or until force is closed), then SIGKILLs every process and waits up to
// killGrace. killed says SIGKILL was needed; onRequest that force asked
// for it.
func (s *Sandbox) terminate(ctx context.Context, c containerd.Container, task containerd.Task, timeout time.Duration, force <-chan struct{}) (killed, onRequest bool, err error) {
	waitC, err := task.Wait(ctx)
	if err != nil {
		return false, false, fmt.Errorf("wait for task: %w", err)
	}
	sig, err := containerd.GetStopSignal(ctx, c, syscall.SIGTERM)
	if err != nil {
		sig = syscall.SIGTERM
	}
	if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
		return false, false, fmt.Errorf("send %v: %w", sig, err)
	}
	exited, onRequest, err := waitExitOrForce(ctx, waitC, timeout, force)
	if exited || err != nil {
		return false, false, err
	}
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return true, onRequest, fmt.Errorf("send SIGKILL: %w", err)
	}
	exited, err = waitExit(ctx, waitC, killGrace)
	if err == nil && !exited {
		err = errdefs.ErrUnavailable.WithMessage(fmt.Sprintf(
			"the sandbox's processes did not exit %s after SIGKILL (stuck in the kernel, e.g. on a hung mount); "+
				"check `ctr -n %s tasks ls` and the host's dmesg, then run `occ stop` again", killGrace, s.client.Namespace))
	}
	return true, onRequest, err
}

// waitExit waits up to d for the task's exit on waitC. exited is false
// when d passed first; the error is ctx's when ctx ended first.
func waitExit(ctx context.Context, waitC <-chan containerd.ExitStatus, d time.Duration) (exited bool, err error) {
	exited, _, err = waitExitOrForce(ctx, waitC, d, nil)
	return exited, err
}

// waitExitOrForce is waitExit that also returns (forced true) as soon as
// force is closed; a nil force never fires. An exit already there wins
// over force.
func waitExitOrForce(ctx context.Context, waitC <-chan containerd.ExitStatus, d time.Duration, force <-chan struct{}) (exited, forced bool, err error) {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	select {
	case <-waitC:
		return true, false, nil
	case <-force:
		select {
		case <-waitC:
			return true, false, nil
		default:
			return false, true, nil
		}
	case <-wctx.Done():
		return false, false, ctx.Err()
	}
}

// deleteTask deletes the stopped task and records its exit code and time
// in the container's labels.
func deleteTask(ctx context.Context, c containerd.Container, task containerd.Task) (uint32, error) {
	exit, err := task.Delete(ctx)
	if err != nil && !errdefs.IsNotFound(err) {
		return 0, fmt.Errorf("delete task: %w", err)
	}
	if exit == nil {
		return 0, nil
	}
	code := exit.ExitCode()
	at := exit.ExitTime()
	if at.IsZero() {
		at = time.Now()
	}
	if err := updateLabels(ctx, c, map[string]string{
		meta.LabelContainerExitCode: strconv.FormatUint(uint64(code), 10),
		meta.LabelContainerExitedAt: at.UTC().Format(time.RFC3339Nano),
	}); err != nil {
		return code, fmt.Errorf("record exit: %w", err)
	}
	return code, nil
}

// releaseStopped tears down the stopped container's network, records the
// stop (for the restart monitor too) and rotates a raw log.
func (s *Sandbox) releaseStopped(ctx context.Context, c containerd.Container) error {
	labels, err := c.Labels(ctx)
	if err != nil {
		return fmt.Errorf("read container labels: %w", err)
	}
	if err := teardownNetwork(ctx, cniStateFromLabels(labels), s.opts.Config.CNIPluginDirs); err != nil {
		return err
	}
	final := clearedNetworkLabels()
	if s.client.HasRestartMonitor(ctx) {
		for k, v := range restartStoppedLabels() {
			final[k] = v
		}
	}
	if err := updateLabels(ctx, c, final); err != nil {
		return fmt.Errorf("record stop: %w", err)
	}
	if labels[meta.LabelContainerLogFormat] != LogFormatStamped { // the log driver rotates its own file
		_ = rotateLog(labels[meta.LabelContainerLogPath], MaxLogSize)
	}
	return nil
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
