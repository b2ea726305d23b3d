package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/runtime/restart"
	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// State of the sandbox container.
type State string

const (
	StateMissing State = "missing" // no container record
	StateCreated State = "created" // container, no task
	StateRunning State = "running"
	StatePaused  State = "paused"
	StateStopped State = "stopped" // task exited (crash) or was stopped
	StateUnknown State = "unknown"
)

// Status is what `occ status` shows about the container.
type Status struct {
	State       State
	Pid         uint32
	StartedAt   time.Time // zero if unknown
	Uptime      time.Duration
	ExitCode    *uint32 // set once the task has exited
	ExitedAt    time.Time
	Image       string // image name the container was created from
	ImageDigest string // its manifest digest at create time
	Published   string // host:port (bind_address:opencode_web_port)
	NetworkMode string
	LogPath     string
	CreatedBy   string // occ version that created the container
	// RestartPolicy and RestartCount are set when containerd's restart
	// monitor manages the container.
	RestartPolicy string
	RestartCount  int
	Labels        map[string]string
}

// Status reads the container and its task. A missing container is
// State=missing, not an error.
func (s *Sandbox) Status(ctx context.Context) (Status, error) {
	ctx = s.ctx(ctx)
	c, err := s.container(ctx)
	if errors.Is(err, errdefs.ErrNotFound) {
		return Status{State: StateMissing}, nil
	} else if err != nil {
		return Status{}, err
	}
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return Status{}, fmt.Errorf("container info: %w", err)
	}
	st := statusFromLabels(info.Image, info.Labels)
	if img, err := c.Image(ctx); err == nil {
		st.Image = img.Name()
		if st.ImageDigest == "" {
			st.ImageDigest = img.Target().Digest.String()
		}
	}
	_ = rotateLog(st.LogPath, MaxLogSize)
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return st, nil
	} else if err != nil {
		return st, fmt.Errorf("load task: %w", err)
	}
	ts, err := task.Status(ctx)
	if errdefs.IsNotFound(err) {
		return st, nil // deleted since it was loaded (a stop in another occ)
	}
	if err != nil {
		st.State = StateUnknown
		return st, fmt.Errorf("task status: %w", err)
	}
	st.applyTask(ts, task.Pid())
	return st, nil
}

// statusFromLabels is what the container's record says: its image, the
// labels occ set at create time and the exit a stop recorded (State
// stopped then, else created).
func statusFromLabels(image string, l map[string]string) Status {
	st := Status{
		State:       StateCreated,
		Image:       image,
		ImageDigest: l[meta.LabelContainerImageDigest],
		Published:   l[meta.LabelContainerPublished],
		NetworkMode: l[meta.LabelContainerNetworkMode],
		LogPath:     l[meta.LabelContainerLogPath],
		CreatedBy:   l[meta.LabelContainerCreatedBy],
		Labels:      l,
	}
	if l[restart.StatusLabel] != "" || l[restart.PolicyLabel] != "" {
		st.RestartPolicy = l[restart.PolicyLabel]
		st.RestartCount, _ = strconv.Atoi(l[restart.CountLabel])
	}
	if code := l[meta.LabelContainerExitCode]; code != "" {
		if n, err := strconv.ParseUint(code, 10, 32); err == nil {
			v := uint32(n)
			st.ExitCode = &v
			st.State = StateStopped
		}
		st.ExitedAt, _ = time.Parse(time.RFC3339Nano, st.Labels[meta.LabelContainerExitedAt])
	}
	return st
}

// applyTask sets the state from the task's status (pid is the task's),
// and, for a running or paused task, when it started: the process's
// start time, else the label a start recorded.
func (st *Status) applyTask(ts containerd.Status, pid uint32) {
	st.Pid = pid
	switch ts.Status {
	case containerd.Running:
		st.State = StateRunning
		st.ExitCode, st.ExitedAt = nil, time.Time{}
	case containerd.Paused, containerd.Pausing:
		st.State = StatePaused
	case containerd.Stopped:
		st.State = StateStopped
		code := ts.ExitStatus
		st.ExitCode = &code
		st.ExitedAt = ts.ExitTime
		st.Pid = 0
	case containerd.Created:
		st.State = StateCreated
	default:
		st.State = StateUnknown
	}
	if st.State != StateRunning && st.State != StatePaused {
		return
	}
	if t, ok := procStartTime(st.Pid); ok {
		st.StartedAt = t
	} else if t, err := time.Parse(time.RFC3339Nano, st.Labels[meta.LabelContainerStartedAt]); err == nil {
		st.StartedAt = t
	}
	if !st.StartedAt.IsZero() {
		st.Uptime = time.Since(st.StartedAt).Truncate(time.Second)
	}
}

// ExplicitlyStopped says whether the last stop was asked for (occ stop),
// not a crash: the restart monitor leaves such a container down.
func (st Status) ExplicitlyStopped() bool {
	return st.Labels[restart.ExplicitlyStoppedLabel] == "true"
}

// URL is the address to open in a browser.
func (st Status) URL() string {
	if st.Published == "" {
		return ""
	}
	return "http://" + ProbeAddress(st.Published) + "/"
}

// procStartTime reads a process's start time from /proc (field 22 of
// /proc/PID/stat, in clock ticks since boot; Linux's USER_HZ is 100).
func procStartTime(pid uint32) (time.Time, bool) {
	if pid == 0 {
		return time.Time{}, false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return time.Time{}, false
	}
	// The command name (field 2) may contain spaces; skip past its ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return time.Time{}, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 { // fields 3.. ; starttime is field 22 → index 19
		return time.Time{}, false
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	boot, ok := bootTime()
	if !ok {
		return time.Time{}, false
	}
	return boot.Add(time.Duration(ticks) * time.Second / 100), true
}

func bootTime() (time.Time, bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(n, 0), true
		}
	}
	return time.Time{}, false
}

// Differences lists why the existing container does not match the wanted
// options (published address, network mode, configured mounts, image), so
// the caller can offer to recreate it. Empty when it matches or is missing.
func (s *Sandbox) Differences(ctx context.Context) ([]string, error) {
	ctx = s.ctx(ctx)
	c, err := s.container(ctx)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	l, err := c.Labels(ctx)
	if err != nil {
		return nil, fmt.Errorf("read container labels: %w", err)
	}
	var out []string
	if got, want := l[meta.LabelContainerPublished], s.PublishedAddress(); got != want {
		out = append(out, fmt.Sprintf("published on %s, configured %s", got, want))
	}
	if got, want := l[meta.LabelContainerNetworkMode], s.networkMode(); got != want {
		out = append(out, fmt.Sprintf("network mode %s, configured %s", got, want))
	}
	if iso, err := ResolveIsolation(s.opts.Config); err == nil {
		if got, want := l[LabelContainerIsolation], iso.label(); got != want {
			out = append(out, fmt.Sprintf("isolation [%s], configured [%s]", got, want))
		}
	}
	plan, err := PlanMounts(s.opts.Config, s.opts.Paths.VolumesDir())
	if err != nil {
		return nil, err
	}
	if got, want := l[meta.LabelContainerMounts], plan.BindsLabel(); got != want {
		out = append(out, fmt.Sprintf("mounts [%s], configured [%s]", got, want))
	}
	if img, err := s.client.ctr.GetImage(ctx, s.opts.Image); err == nil {
		if got, want := l[meta.LabelContainerImageDigest], img.Target().Digest.String(); got != want {
			out = append(out, fmt.Sprintf("image %s, current %s is %s", got, s.opts.Image, want))
		} else {
			out = append(out, s.envDifferences(ctx, c, img, plan)...)
		}
	}
	return out, nil
}

func splitHostPort(a string) (string, string, error) { return net.SplitHostPort(a) }
func parseIP(s string) net.IP                        { return net.ParseIP(s) }
