package ops

import (
	"context"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// RestartOptions are `occ restart`'s.
type RestartOptions struct {
	// Yes recreates the container without asking when the configuration
	// changed.
	Yes bool
}

// Running is where a started sandbox answers.
type Running struct {
	URL       string `json:"url"`
	Container string `json:"container"`
	// Port and BindAddress are where the web UI is published; Exposed:
	// beyond this machine.
	Port        int    `json:"port,omitempty"`
	BindAddress string `json:"bind_address,omitempty"`
	Exposed     bool   `json:"exposed"`
	NetworkMode string `json:"network_mode,omitempty"`
	// Users is how many login users are configured (0: the gateway lets
	// anyone in, which start allows only with allow_unauthenticated_network
	// or on this machine only).
	Users int `json:"users"`
}

// runningOf is where the sandbox in state st answers, for the result.
func runningOf(st runtime.Status, name string, cfg *meta.Config) Running {
	r := Running{URL: st.URL(), Container: name, NetworkMode: st.NetworkMode, Users: len(cfg.Users)}
	if host, port, err := splitHostPort(st.Published); err == nil {
		r.Port, r.BindAddress, r.Exposed = port, host, meta.IsExposed(host)
	}
	return r
}

// RestartResult is what a restart did.
type RestartResult struct {
	Running
	Recreated bool `json:"recreated"`
}

// Restart stops and starts the sandbox container, recreating it first when
// the configuration no longer matches it, and waits until it answers.
func (e *Env) Restart(ctx context.Context, o RestartOptions) (*RestartResult, error) {
	s, err := e.Open(ctx, OpenOptions{Lock: true, Validate: true, Check: e.checkUsers})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	sb := s.Sandbox
	if s.State.State == runtime.StateMissing {
		return nil, errdefs.ErrNotFound.WithMessage("no service container to restart: run `occ start` first")
	}
	recreate, err := e.recreateIfChanged(ctx, sb, recreateAsk{yes: o.Yes, listAlways: true, doing: "Recreating the container (volumes are kept)..."})
	if err != nil {
		return nil, err
	}
	if !recreate && s.Running() {
		e.Report.Infof("Stopping service (%s graceful timeout, then force kill)...", Secs(runtime.DefaultStopTimeout))
		if _, err := sb.Stop(ctx, runtime.DefaultStopTimeout); err != nil {
			return nil, err
		}
	}
	WarnExposure(e.Report, s.Config, e.Paths)
	if err := e.startAndWait(ctx, sb); err != nil {
		return nil, err
	}
	st, err := sb.Status(ctx)
	if err != nil {
		return nil, err
	}
	e.Report.Successf("Service restarted")
	return &RestartResult{Running: runningOf(st, sb.Name(), s.Config), Recreated: recreate}, nil
}

// recreateAsk says how recreateIfChanged goes: yes recreates without a
// question; listAlways lists the differences even then; doing is the
// line said before recreating.
type recreateAsk struct {
	yes, listAlways bool
	doing           string
}

// recreateIfChanged recreates the container when it no longer matches the
// configuration: at once with yes, else after a question (default yes).
// It says whether it did.
func (e *Env) recreateIfChanged(ctx context.Context, sb *runtime.Sandbox, a recreateAsk) (bool, error) {
	diffs, err := sb.Differences(ctx)
	if err != nil || len(diffs) == 0 {
		return false, err
	}
	recreate := a.yes
	if !recreate || a.listAlways {
		e.Report.Infof("The container no longer matches the configuration:\n  - %s", strings.Join(diffs, "\n  - "))
	}
	if !recreate {
		if recreate, err = e.Prompt.Confirm("Recreate container with the new configuration?", true, "--yes"); err != nil {
			return false, err
		}
	}
	if !recreate {
		return false, nil
	}
	e.Report.Infof("%s", a.doing)
	return true, sb.Recreate(ctx, runtime.DefaultStopTimeout)
}

// startAndWait starts the container's task and waits for readiness with a
// spinner.
func (e *Env) startAndWait(ctx context.Context, sb *runtime.Sandbox) error {
	sp := e.Progress.Spinner("Starting service...")
	defer sp.Stop()
	if err := sb.Start(ctx); err != nil {
		return err
	}
	return sb.WaitReady(ctx, runtime.ReadyOptions{Progress: func(ok, needed int, elapsed time.Duration) {
		if ok > 0 {
			sp.Set("Service responding (%d/%d)", ok, needed)
		} else {
			sp.Set("Waiting for service to be ready... (%s)", elapsed.Truncate(time.Second))
		}
	}})
}
