package ops

import "testing"

// TestPublishes: the sandbox's published address matches a port check's
// host and port as addresses, not as strings.
func TestPublishes(t *testing.T) {
	tests := []struct {
		published, host string
		port            int
		want            bool
	}{
		{"127.0.0.1:3000", "127.0.0.1", 3000, true},
		{"localhost:3000", "127.0.0.1", 3000, true},
		{"0.0.0.0:3000", "0.0.0.0", 3000, true},
		{"[::]:3000", "::", 3000, true},
		{"[::1]:3000", "0:0:0:0:0:0:0:1", 3000, true},
		{"127.0.0.1:3000", "127.0.0.1", 3001, false},
		{"127.0.0.1:3000", "0.0.0.0", 3000, false},
		{"", "127.0.0.1", 3000, false},
		{"127.0.0.1", "127.0.0.1", 3000, false},
		{"not-an-ip:3000", "127.0.0.1", 3000, false},
	}
	for _, tc := range tests {
		if got := publishes(tc.published, tc.host, tc.port); got != tc.want {
			t.Errorf("publishes(%q, %q, %d) = %v, want %v", tc.published, tc.host, tc.port, got, tc.want)
		}
	}
}
