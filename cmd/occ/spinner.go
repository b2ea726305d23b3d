package main

import (
	"fmt"
	"sync"
	"time"
)

// spinner shows one progress line on a terminal ("⠋ Waiting... (3s)").
// Off a terminal, or with -q, it prints nothing: the caller prints the
// result line.
type spinner struct {
	app  *App
	mu   sync.Mutex
	msg  string
	done chan struct{}
	wg   sync.WaitGroup
}

var spinFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func (a *App) startSpinner(msg string) *spinner {
	s := &spinner{app: a, msg: msg, done: make(chan struct{})}
	if !a.Interactive {
		return s
	}
	s.wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			s.mu.Lock()
			fmt.Fprintf(s.app.UI.Err, "\r\033[K%s %s", spinFrames[i%len(spinFrames)], s.msg)
			s.mu.Unlock()
			select {
			case <-s.done:
				fmt.Fprint(s.app.UI.Err, "\r\033[K")
				return
			case <-t.C:
			}
		}
	})
	return s
}

// Set changes the message.
func (s *spinner) Set(format string, a ...any) {
	s.mu.Lock()
	s.msg = fmt.Sprintf(format, a...)
	s.mu.Unlock()
}

// Stop clears the line.
func (s *spinner) Stop() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
}
