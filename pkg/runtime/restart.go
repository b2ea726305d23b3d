package runtime

import (
	"context"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/runtime/restart"
)

// RestartPolicy is the containerd restart-monitor policy occ asks for:
// restart after a crash or a reboot, but never after an explicit stop.
const RestartPolicy = "unless-stopped"

// HasRestartMonitor asks containerd (introspection) whether its restart
// monitor plugin is loaded: io.containerd.monitor.* in 2.x,
// io.containerd.internal.v1 in 1.6/1.7.
func (c *Client) HasRestartMonitor(ctx context.Context) bool {
	resp, err := c.ctr.IntrospectionService().Plugins(c.WithNamespace(ctx), "id==restart")
	if err != nil {
		return false
	}
	for _, p := range resp.Plugins {
		if p.InitErr != nil {
			continue
		}
		if strings.HasPrefix(p.Type, "io.containerd.monitor.") || p.Type == "io.containerd.internal.v1" {
			return true
		}
	}
	return false
}

// updateLabels sets (value != "") or deletes (value == "") container labels.
func updateLabels(ctx context.Context, c containerd.Container, labels map[string]string) error {
	return c.Update(ctx, func(_ context.Context, _ *containerd.Client, cr *containers.Container) error {
		if cr.Labels == nil {
			cr.Labels = map[string]string{}
		}
		for k, v := range labels {
			if v == "" {
				delete(cr.Labels, k)
			} else {
				cr.Labels[k] = v
			}
		}
		return nil
	})
}

// restartRunningLabels are set after a successful start when the monitor is
// present: the monitor then restarts the task if it dies (or after a
// reboot), with the same log file.
func restartRunningLabels(logURI string) map[string]string {
	return map[string]string{
		restart.PolicyLabel:            RestartPolicy,
		restart.StatusLabel:            string(containerd.Running),
		restart.LogURILabel:            logURI,
		restart.ExplicitlyStoppedLabel: "false",
	}
}

// restartStoppingLabels are set before occ stops the task. Dropping the
// status label first means the monitor neither restarts the task while it
// shuts down nor SIGKILLs it early (it acts only on containers carrying that
// label); the explicit-stop mark keeps it down.
func restartStoppingLabels() map[string]string {
	return map[string]string{
		restart.StatusLabel:            "",
		restart.ExplicitlyStoppedLabel: "true",
	}
}

// restartStoppedLabels are set once the task is gone.
func restartStoppedLabels() map[string]string {
	return map[string]string{
		restart.StatusLabel:            string(containerd.Stopped),
		restart.ExplicitlyStoppedLabel: "true",
	}
}
