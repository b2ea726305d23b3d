package ui

import (
	"bytes"
	"io"
	"testing"

	"github.com/creack/pty"
)

func TestColorFor(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	var pipe bytes.Buffer
	tests := []struct {
		name                     string
		noColorFlag              bool
		noColor, force, termName string
		w                        io.Writer
		want                     bool
	}{
		{name: "terminal", w: tty, termName: "xterm", want: true},
		{name: "pipe", w: &pipe, termName: "xterm", want: false},
		{name: "dumb terminal", w: tty, termName: "dumb", want: false},
		{name: "NO_COLOR", w: tty, noColor: "1", termName: "xterm", want: false},
		{name: "--no-color", w: tty, noColorFlag: true, termName: "xterm", want: false},
		{name: "FORCE_COLOR on a pipe", w: &pipe, force: "1", want: true},
		{name: "FORCE_COLOR=0", w: &pipe, force: "0", want: false},
		{name: "FORCE_COLOR=false", w: tty, force: "false", termName: "xterm", want: true},
		{name: "NO_COLOR beats FORCE_COLOR", w: &pipe, force: "1", noColor: "1", want: false},
		{name: "--no-color beats FORCE_COLOR", w: &pipe, force: "1", noColorFlag: true, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tt.noColor)
			t.Setenv("FORCE_COLOR", tt.force)
			t.Setenv("TERM", tt.termName)
			if got := ColorFor(tt.w, tt.noColorFlag); got != tt.want {
				t.Errorf("ColorFor = %v, want %v", got, tt.want)
			}
		})
	}
}
