package ops

import (
	"testing"
	"time"
)

func TestStopMessage(t *testing.T) {
	tests := []struct {
		running, removed bool
		killed           bool
		want             string
	}{
		{true, false, false, "Service stopped"},
		{true, false, true, "Service stopped (force killed after 30s timeout)"},
		{true, true, false, "Service stopped and container removed"},
		{false, true, false, "Service container removed"},
	}
	for _, tt := range tests {
		if got := StopMessage(tt.running, tt.killed, tt.removed, 30*time.Second); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
