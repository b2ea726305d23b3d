package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// StopOptions are `occ stop`'s.
type StopOptions struct {
	// Timeout is how long to wait after SIGTERM before SIGKILL; 0 kills at
	// once.
	Timeout time.Duration
	// Remove also removes the container (volumes are always kept).
	Remove bool
	// ForceKill, when closed during the graceful wait, SIGKILLs at once
	// (occ stop on a terminal closes it when Enter is pressed); nil: never.
	ForceKill <-chan struct{}
	// ForceHint follows the "Stopping service…" line when ForceKill is set
	// ("Press Enter to force kill now.").
	ForceHint string
}

// StopResult is what a stop did.
type StopResult struct {
	WasRunning bool `json:"was_running"`
	Removed    bool `json:"removed"`
	Killed     bool `json:"killed"`
	// KilledOnRequest: the kill was asked for (ForceKill) before the
	// timeout.
	KilledOnRequest bool `json:"killed_on_request,omitempty"`
	// Message is the result line ("Service stopped", "Service is already
	// stopped", …).
	Message string `json:"message"`
}

// Stop stops (and with Remove, removes) the sandbox container.
func (e *Env) Stop(ctx context.Context, o StopOptions) (*StopResult, error) {
	s, err := e.Open(ctx, OpenOptions{Lock: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return e.stopSandbox(ctx, s.Sandbox, s.State, o)
}

// stopSandbox stops the container in state st, with upstream's messages.
func (e *Env) stopSandbox(ctx context.Context, sb *runtime.Sandbox, st runtime.Status, o StopOptions) (*StopResult, error) {
	res := &StopResult{}
	if st.State == runtime.StateMissing {
		res.Message = "Service container is already removed"
		e.Report.Successf("%s", res.Message)
		return res, nil
	}
	res.WasRunning = isRunning(st)
	if !res.WasRunning && !o.Remove {
		res.Message = "Service is already stopped"
		e.Report.Successf("%s", res.Message)
		return res, nil
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = time.Nanosecond // runtime treats 0 as its default; kill at once
	}
	if res.WasRunning {
		hint := ""
		if o.ForceKill != nil && o.ForceHint != "" {
			hint = " " + o.ForceHint
		}
		e.Report.Infof("Stopping service (%s graceful timeout, then force kill)...%s", Secs(timeout), hint)
		sr, err := sb.StopOrKill(ctx, timeout, o.ForceKill)
		if err != nil {
			return nil, err
		}
		res.Killed, res.KilledOnRequest = sr.Killed, sr.KilledOnRequest
	}
	if o.Remove {
		if err := sb.Remove(ctx, timeout); err != nil {
			return nil, err
		}
		res.Removed = true
	}
	res.Message = StopMessage(res.WasRunning, res.Killed, res.KilledOnRequest, res.Removed, timeout)
	e.Report.Successf("%s", res.Message)
	return res, nil
}

// StopMessage is the result line of a stop: upstream's, with "(force
// killed on request)" or "(force killed after 30s timeout)".
func StopMessage(wasRunning, killed, onRequest, removed bool, timeout time.Duration) string {
	var msg string
	switch {
	case wasRunning && removed:
		msg = "Service stopped and container removed"
	case wasRunning:
		msg = "Service stopped"
	default:
		msg = "Service container removed"
	}
	switch {
	case killed && onRequest:
		msg += " (force killed on request)"
	case killed:
		msg += " (force killed after " + Secs(timeout) + " timeout)"
	}
	return msg
}

// Secs prints a timeout in whole seconds ("30s"; "0s" below one).
func Secs(d time.Duration) string {
	if d < time.Second {
		return "0s"
	}
	return d.Round(time.Second).String()
}

// StoppedContainer is one container StopAll stopped.
type StoppedContainer struct {
	Namespace  string `json:"namespace"`
	ID         string `json:"id"`
	WasRunning bool   `json:"was_running"`
}

// StopAll stops every container occ manages on the containerd at address,
// in every namespace, and releases its network, whatever occ config made
// it (the container's labels record all its stop needs). It takes no lock:
// hack/testbed down runs it before stopping its containerd. done is told
// of each container stopped.
func StopAll(ctx context.Context, address string, paths meta.Paths, timeout time.Duration, done func(StoppedContainer)) error {
	rt, err := runtime.Connect(ctx, address, meta.DefaultConfig().ContainerdNamespace, "")
	if err != nil {
		return err
	}
	defer rt.Close()
	nss, err := rt.Namespaces(ctx)
	if err != nil {
		return fmt.Errorf("list containerd namespaces at %s: %w", address, err)
	}
	var errs []error
	for _, ns := range nss {
		nsrt := rt.InNamespace(ns)
		ids, err := nsrt.ManagedContainers(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("list occ's containers in namespace %s: %w", ns, err))
			continue
		}
		for _, id := range ids {
			cfg := meta.DefaultConfig()
			cfg.ContainerdNamespace = ns
			sb, err := runtime.NewSandbox(nsrt, runtime.SpecOptions{Config: cfg, Paths: paths, Name: id})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			res, err := sb.Stop(ctx, timeout)
			if err != nil {
				errs = append(errs, fmt.Errorf("stop %s/%s: %w", ns, id, err))
				continue
			}
			done(StoppedContainer{Namespace: ns, ID: id, WasRunning: res.WasRunning})
		}
	}
	return errors.Join(errs...)
}
