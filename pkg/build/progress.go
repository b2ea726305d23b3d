package build

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
)

// Progress display modes (BuildKit's progressui).
const (
	ProgressAuto  = string(progressui.AutoMode)
	ProgressTTY   = string(progressui.TtyMode)
	ProgressPlain = string(progressui.PlainMode)
	ProgressQuiet = string(progressui.QuietMode)
	ProgressJSON  = string(progressui.RawJSONMode)
)

// logTail is how many lines of a step's output are kept for error reports.
const logTail = 15

// Step is one BuildKit vertex as the progress stream reported it.
type Step struct {
	Digest    digest.Digest
	Name      string
	Cached    bool
	Started   *time.Time
	Completed *time.Time
	Error     string
}

// Ran reports whether the step executed (rather than coming from cache).
func (s Step) Ran() bool { return !s.Cached && s.Started != nil }

// stepRe matches the Dockerfile instruction steps: "[2/5] RUN …",
// "[stage-1 3/7] COPY …".
var stepRe = regexp.MustCompile(`^\[(?:[^\]]* )?\d+/\d+\] `)

// Instruction reports whether the step is a Dockerfile instruction (not
// BuildKit's own "[internal] …" or "exporting …" steps).
func (s Step) Instruction() bool { return stepRe.MatchString(s.Name) }

// CountSteps counts the Dockerfile instruction steps that ran and that came
// from the cache.
func CountSteps(steps []Step) (ran, cached int) {
	for _, s := range steps {
		if !s.Instruction() {
			continue
		}
		switch {
		case s.Cached:
			cached++
		case s.Ran():
			ran++
		}
	}
	return ran, cached
}

// tracker follows the status stream: steps in order, and the tail of each
// step's output for error reports.
type tracker struct {
	mu       sync.Mutex
	order    []digest.Digest
	steps    map[digest.Digest]*Step
	logs     map[digest.Digest]*lineTail
	warnings []client.VertexWarning
}

func newTracker() *tracker {
	return &tracker{steps: map[digest.Digest]*Step{}, logs: map[digest.Digest]*lineTail{}}
}

func (t *tracker) update(s *client.SolveStatus) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, v := range s.Vertexes {
		st, ok := t.steps[v.Digest]
		if !ok {
			st = &Step{Digest: v.Digest}
			t.steps[v.Digest] = st
			t.order = append(t.order, v.Digest)
		}
		st.Name = v.Name
		st.Cached = st.Cached || v.Cached
		if v.Started != nil {
			st.Started = v.Started
		}
		if v.Completed != nil {
			st.Completed = v.Completed
		}
		if v.Error != "" {
			st.Error = v.Error
		}
	}
	for _, l := range s.Logs {
		lt, ok := t.logs[l.Vertex]
		if !ok {
			lt = &lineTail{max: logTail}
			t.logs[l.Vertex] = lt
		}
		lt.Write(l.Data)
	}
	for _, w := range s.Warnings {
		t.warnings = append(t.warnings, *w)
	}
}

// Steps returns the steps in the order BuildKit first reported them.
func (t *tracker) Steps() []Step {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Step, 0, len(t.order))
	for _, d := range t.order {
		out = append(out, *t.steps[d])
	}
	return out
}

// failed returns the step that failed (not merely cancelled because another
// failed) and the last lines of its output.
func (t *tracker) failed() (Step, []string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var found *Step
	for _, d := range t.order {
		s := t.steps[d]
		if s.Error == "" {
			continue
		}
		if isCancelMessage(s.Error) {
			if found == nil {
				found = s
			}
			continue
		}
		found = s
		break
	}
	if found == nil {
		return Step{}, nil, false
	}
	var lines []string
	if lt := t.logs[found.Digest]; lt != nil {
		lines = lt.Lines()
	}
	return *found, lines, true
}

func isCancelMessage(s string) bool {
	return strings.Contains(s, "context canceled") || strings.Contains(s, "canceled")
}

// lineTail keeps the last max lines written to it.
type lineTail struct {
	max     int
	lines   []string
	partial []byte
}

func (l *lineTail) Write(p []byte) {
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.push(string(bytes.TrimRight(l.partial[:i], "\r")))
		l.partial = l.partial[i+1:]
	}
}

func (l *lineTail) push(s string) {
	l.lines = append(l.lines, s)
	if len(l.lines) > l.max {
		l.lines = l.lines[len(l.lines)-l.max:]
	}
}

func (l *lineTail) Lines() []string {
	out := append([]string(nil), l.lines...)
	if len(l.partial) > 0 {
		out = append(out, string(l.partial))
		if len(out) > l.max {
			out = out[len(out)-l.max:]
		}
	}
	return out
}

// runProgress consumes the solve status channel until Solve closes it:
// every status goes to the tracker, to onStatus and to BuildKit's display.
// The display is never cancelled early (Solve blocks on an unread channel).
func runProgress(ctx context.Context, ch chan *client.SolveStatus, t *tracker, w io.Writer, mode string, onStatus func(*client.SolveStatus)) (func() error, error) {
	if w == nil {
		w = io.Discard
		mode = ProgressQuiet
	}
	if mode == "" {
		mode = ProgressAuto
	}
	disp, err := progressui.NewDisplay(w, progressui.DisplayMode(mode))
	if err != nil {
		// AutoMode falls back to plain output when w is no console; an
		// explicit tty on a non-terminal lands here.
		disp, err = progressui.NewDisplay(w, progressui.PlainMode)
		if err != nil {
			return nil, fmt.Errorf("progress display: %w", err)
		}
	}
	dispCh := make(chan *client.SolveStatus)
	done := make(chan error, 1)
	go func() {
		_, err := disp.UpdateFrom(context.WithoutCancel(ctx), dispCh)
		// Drain, in case the display stopped early.
		for range dispCh {
		}
		done <- err
	}()
	go func() {
		for s := range ch {
			t.update(s)
			if onStatus != nil {
				onStatus(s)
			}
			dispCh <- s
		}
		close(dispCh)
	}()
	return func() error { return <-done }, nil
}
