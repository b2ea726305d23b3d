package ops

import (
	"testing"
	"time"
)

func TestStopMessage(t *testing.T) {
	tests := []struct {
		running, removed  bool
		killed, onRequest bool
		want              string
	}{
		{running: true, want: "Service stopped"},
		{running: true, killed: true, want: "Service stopped (force killed after 30s timeout)"},
		{running: true, killed: true, onRequest: true, want: "Service stopped (force killed on request)"},
		{running: true, removed: true, killed: true, onRequest: true, want: "Service stopped and container removed (force killed on request)"},
		{running: true, removed: true, want: "Service stopped and container removed"},
		{removed: true, want: "Service container removed"},
	}
	for _, tt := range tests {
		if got := StopMessage(tt.running, tt.killed, tt.onRequest, tt.removed, 30*time.Second); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
