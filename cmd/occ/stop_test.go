package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestEnterPressed(t *testing.T) {
	tests := []struct {
		name    string
		in      io.Reader
		pressed bool
	}{
		{"enter", strings.NewReader("\n"), true},
		{"typed then enter", strings.NewReader("kill it\n"), true},
		{"end of input, no enter", strings.NewReader(""), false},
		{"nothing typed yet", blockingReader{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			select {
			case <-enterPressed(tt.in):
				if !tt.pressed {
					t.Error("closed without Enter")
				}
			case <-time.After(200 * time.Millisecond):
				if tt.pressed {
					t.Error("Enter did not close it")
				}
			}
		})
	}
}

// blockingReader never returns, like a terminal nobody types on.
type blockingReader struct{}

func (blockingReader) Read([]byte) (int, error) { select {} }
