package ui

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/opencode-cloud/occ/pkg/ops"
)

// Spinner shows one progress line on a terminal ("⠋ Waiting... (3s)").
// Off a terminal, or with -q, it prints nothing: the caller prints the
// result line.
type Spinner struct {
	w    io.Writer
	mu   sync.Mutex
	msg  string
	done chan struct{}
	wg   sync.WaitGroup
}

var spinFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// NewSpinner starts a spinner on w; when live is false it draws nothing.
func NewSpinner(w io.Writer, live bool, msg string) *Spinner {
	s := &Spinner{w: w, msg: msg, done: make(chan struct{})}
	if !live {
		return s
	}
	s.wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			s.mu.Lock()
			fmt.Fprintf(s.w, "\r\033[K%s %s", spinFrames[i%len(spinFrames)], s.msg)
			s.mu.Unlock()
			select {
			case <-s.done:
				fmt.Fprint(s.w, "\r\033[K")
				return
			case <-t.C:
			}
		}
	})
	return s
}

// Spinner starts a spinner on the UI's Err, animated when the UI is Live.
func (u *UI) Spinner(msg string) ops.Spinner { return NewSpinner(u.Err, u.Live, msg) }

// BuildOutput is where BuildKit's progress goes: Err.
func (u *UI) BuildOutput() io.Writer { return u.Err }

// Set changes the message.
func (s *Spinner) Set(format string, a ...any) {
	s.mu.Lock()
	s.msg = fmt.Sprintf(format, a...)
	s.mu.Unlock()
}

// Stop clears the line.
func (s *Spinner) Stop() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
}
