package ops

import (
	"context"
	"io"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// Prompter asks the person running occ. Without a terminal CanPrompt is
// false and every question returns an error naming the flag that answers
// it.
type Prompter interface {
	CanPrompt() bool
	Confirm(question string, def bool, flag string) (bool, error)
	Choose(question string, options []string, def int) (int, error)
	Line(question, def, flag string) (string, error)
	ReadSecret(prompt string, confirm bool) (string, error)
}

// Reporter takes what an operation says while it works (stderr in the
// CLI): progress, warnings (shown even with -q), successes and details
// (-v).
type Reporter interface {
	Infof(format string, a ...any)
	Warnf(format string, a ...any)
	Successf(format string, a ...any)
	Verbosef(format string, a ...any)
	// Heading emphasises a title in a message (bold on a terminal).
	Heading(title string) string
	// PrintError reports an error the operation recovers from (a failed
	// pull before a build is offered).
	PrintError(err error)
}

// Spinner is one progress line for a wait.
type Spinner interface {
	Set(format string, a ...any)
	Stop()
}

// PullSink receives a pull's events; Close ends it (ok: the pull worked).
type PullSink interface {
	Event(e registry.Event)
	Close(ok bool)
}

// Progress draws the long waits: the start's readiness and a pull's bytes.
// BuildOutput is where BuildKit's progress goes.
type Progress interface {
	Spinner(msg string) Spinner
	Pull() PullSink
	BuildOutput() io.Writer
}

// Env is what every operation needs: where occ's files are, how to load the
// config and take the lock, and how to talk to the person.
type Env struct {
	Paths meta.Paths
	// LoadConfig reads the config with the invocation's daemon overrides
	// (flags, environment) in effect.
	LoadConfig func() (*meta.Config, error)
	// Lock takes occ's lock for a change (the CLI's also makes occ's
	// directories private and lets go of the lock while a question waits).
	Lock func(ctx context.Context) (*meta.Lock, error)
	// Quiet is -q: BuildKit's progress is not shown.
	Quiet    bool
	Prompt   Prompter
	Report   Reporter
	Progress Progress
}

// dial dials the config's containerd for this instance: the image
// records it writes carry the instance's label.
func (e *Env) dial(ctx context.Context, cfg *meta.Config) (*runtime.Client, error) {
	rt, err := runtime.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	rt.ImageLabels = e.Paths.InstanceLabels()
	return rt, nil
}

// OpenOptions say which parts of the preamble an operation needs.
type OpenOptions struct {
	// Lock takes occ's lock first (operations that change something).
	Lock bool
	// Validate checks the whole config before anything else.
	Validate bool
	// Check runs on the config before containerd is dialled (the users
	// gate of start and restart).
	Check func(cfg *meta.Config) error
	// Override changes the loaded config for this run only (never saved).
	Override func(cfg *meta.Config)
}

// Session is an operation's preamble done: the config, the containerd
// connection, the sandbox's handle and its state when opened. Close
// releases all of it.
type Session struct {
	Config  *meta.Config
	Client  *runtime.Client
	Sandbox *runtime.Sandbox
	State   runtime.Status

	lock *meta.Lock
}

// Open runs the shared preamble: lock, load, validate, check, connect,
// open the sandbox and read its state.
func (e *Env) Open(ctx context.Context, o OpenOptions) (s *Session, err error) {
	s = &Session{}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	if o.Lock {
		if s.lock, err = e.Lock(ctx); err != nil {
			return s, err
		}
	}
	if s.Config, err = e.LoadConfig(); err != nil {
		return s, err
	}
	if o.Validate {
		if err = s.Config.Validate(); err != nil {
			return s, err
		}
	}
	if o.Check != nil {
		if err = o.Check(s.Config); err != nil {
			return s, err
		}
	}
	if o.Override != nil {
		o.Override(s.Config)
	}
	if s.Client, err = e.dial(ctx, s.Config); err != nil {
		return s, err
	}
	if o.Lock {
		e.tidyAfterKilled(ctx, s.Client)
	}
	if s.Sandbox, err = SandboxFor(s.Client, s.Config, e.Paths); err != nil {
		return s, err
	}
	s.State, err = s.Sandbox.Status(ctx)
	return s, err
}

// Running is whether the sandbox's task runs (or is paused).
func (s *Session) Running() bool { return isRunning(s.State) }

func isRunning(st runtime.Status) bool {
	return st.State == runtime.StateRunning || st.State == runtime.StatePaused
}

// Unlock lets go of occ's lock early (the supervisor runs without it).
func (s *Session) Unlock() {
	if s.lock != nil {
		s.lock.Unlock()
		s.lock = nil
	}
}

// Close closes the connection and lets go of the lock.
func (s *Session) Close() {
	if s == nil {
		return
	}
	if s.Client != nil {
		s.Client.Close()
		s.Client = nil
	}
	s.Unlock()
}
