package ops

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
)

// fakeReport records what an operation says, one line per call, with its
// kind ("info: …", "warn: …").
type fakeReport struct {
	mu sync.Mutex
	w  io.Writer
}

func (r *fakeReport) say(kind, format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		r.w = &bytes.Buffer{}
	}
	fmt.Fprintf(r.w, "%s: %s\n", kind, fmt.Sprintf(format, a...))
}
func (r *fakeReport) Infof(f string, a ...any)    { r.say("info", f, a...) }
func (r *fakeReport) Warnf(f string, a ...any)    { r.say("warn", f, a...) }
func (r *fakeReport) Successf(f string, a ...any) { r.say("success", f, a...) }
func (r *fakeReport) Verbosef(f string, a ...any) { r.say("verbose", f, a...) }
func (r *fakeReport) Heading(t string) string     { return t }
func (r *fakeReport) PrintError(err error)        { r.say("error", "%v", err) }

func (r *fakeReport) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.w.(*bytes.Buffer); ok {
		return b.String()
	}
	return ""
}

// fakePrompt answers from a script; with tty false every question fails
// as the terminal's does. asked records the questions.
type fakePrompt struct {
	tty      bool
	confirm  []bool
	choose   []int
	lines    []string
	secrets  []string
	asked    []string
	askedErr error
}

func (p *fakePrompt) CanPrompt() bool { return p.tty }

func (p *fakePrompt) ask(q, flag string) error {
	p.asked = append(p.asked, q)
	if !p.tty {
		return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("%q needs an answer; pass %s", q, flag))
	}
	return p.askedErr
}

func (p *fakePrompt) Confirm(q string, def bool, flag string) (bool, error) {
	if err := p.ask(q, flag); err != nil {
		return false, err
	}
	if len(p.confirm) == 0 {
		return def, nil
	}
	a := p.confirm[0]
	p.confirm = p.confirm[1:]
	return a, nil
}

func (p *fakePrompt) Choose(q string, options []string, def int) (int, error) {
	if err := p.ask(q, "the matching flag"); err != nil {
		return 0, err
	}
	if len(p.choose) == 0 {
		return def, nil
	}
	a := p.choose[0]
	p.choose = p.choose[1:]
	return a, nil
}

func (p *fakePrompt) Line(q, def, flag string) (string, error) {
	if err := p.ask(q, flag); err != nil {
		return "", err
	}
	if len(p.lines) == 0 {
		return def, nil
	}
	a := p.lines[0]
	p.lines = p.lines[1:]
	return a, nil
}

func (p *fakePrompt) ReadSecret(prompt string, confirm bool) (string, error) {
	p.asked = append(p.asked, prompt)
	if len(p.secrets) == 0 {
		return "", errdefs.ErrInvalidArgument.WithMessage("no " + strings.ToLower(prompt) + " given on stdin")
	}
	a := p.secrets[0]
	p.secrets = p.secrets[1:]
	return a, nil
}

// fakeProgress counts spinners and pulls.
type fakeProgress struct {
	spinners []string
	events   []registry.Event
}

type fakeSpinner struct{}

func (fakeSpinner) Set(string, ...any) {}
func (fakeSpinner) Stop()              {}

func (p *fakeProgress) Spinner(msg string) Spinner {
	p.spinners = append(p.spinners, msg)
	return fakeSpinner{}
}
func (p *fakeProgress) Pull() PullSink         { return p }
func (p *fakeProgress) Event(e registry.Event) { p.events = append(p.events, e) }
func (p *fakeProgress) Close(bool)             {}
func (p *fakeProgress) BuildOutput() io.Writer { return io.Discard }

// testEnv is an Env on a temporary config and data directory whose
// containerd is a socket nobody listens on. locks counts the lock taken.
type testEnv struct {
	*Env
	report *fakeReport
	prompt *fakePrompt
	locks  int
}

func newTestEnv(t *testing.T, cfg *meta.Config) *testEnv {
	t.Helper()
	dir := t.TempDir()
	paths := meta.Paths{ConfigFile: filepath.Join(dir, "config", "config.json"), DataDir: filepath.Join(dir, "data")}
	if cfg == nil {
		cfg = meta.DefaultConfig()
	}
	cfg.ContainerdAddr = filepath.Join(dir, "no-containerd.sock")
	if err := meta.SaveConfig(paths.ConfigFile, cfg); err != nil {
		t.Fatal(err)
	}
	te := &testEnv{report: &fakeReport{}, prompt: &fakePrompt{}}
	te.Env = &Env{
		Paths: paths,
		LoadConfig: func() (*meta.Config, error) {
			c, _, err := meta.LoadConfig(paths.ConfigFile)
			return c, err
		},
		Lock: func(ctx context.Context) (*meta.Lock, error) {
			te.locks++
			if err := paths.SecureDirs(); err != nil {
				return nil, err
			}
			return meta.AcquireLock(ctx, paths.LockFile(), meta.DefaultLockWait)
		},
		Prompt:   te.prompt,
		Report:   te.report,
		Progress: &fakeProgress{},
	}
	return te
}
