package main

import (
	"io"
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/pkg/ops"
)

func TestWriteRunning(t *testing.T) {
	ui := NewUI(io.Discard, io.Discard, false, 0, false, false)
	tests := []struct {
		name     string
		r        ops.Running
		openHint bool
		want     string
	}{
		{"local", ops.Running{URL: "http://127.0.0.1:3000/", Container: "opencode-cloud-sandbox", Port: 3000, BindAddress: "127.0.0.1", NetworkMode: "cni", Users: 2}, true,
			"URL:        http://127.0.0.1:3000/\n" +
				"Container:  opencode-cloud-sandbox\n" +
				"Port:       3000 -> 3000\n" +
				"Security:   [LOCAL ONLY] 127.0.0.1, this machine only\n" +
				"Auth:       login required (2 users; occ user list)\n" +
				"\nOpen in browser: occ start --open (or http://localhost:3000/)\n"},
		{"exposed, host network, opened", ops.Running{URL: "http://127.0.0.1:3100/", Container: "c", Port: 3100, BindAddress: "0.0.0.0", Exposed: true, NetworkMode: "host", Users: 1}, false,
			"URL:        http://127.0.0.1:3100/\n" +
				"Container:  c\n" +
				"Port:       3100 (host network)\n" +
				"Security:   [NETWORK EXPOSED] Accessible on all network interfaces (0.0.0.0)\n" +
				"Auth:       login required (1 user; occ user list)\n"},
		{"no users, another address", ops.Running{URL: "http://10.0.0.5:3000/", Container: "c", Port: 3000, BindAddress: "10.0.0.5", Exposed: true}, true,
			"URL:        http://10.0.0.5:3000/\n" +
				"Container:  c\n" +
				"Port:       3000 -> 3000\n" +
				"Security:   [NETWORK EXPOSED] Accessible on 10.0.0.5\n" +
				"Auth:       no login users: add one with occ user add NAME\n" +
				"\nOpen in browser: occ start --open (or http://10.0.0.5:3000/)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			writeRunning(&b, ui, tt.r, tt.openHint)
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestBrowserURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:3000/": "http://localhost:3000/",
		"http://0.0.0.0:3000/":   "http://localhost:3000/",
		"http://[::1]:3000/":     "http://localhost:3000/",
		"http://10.1.2.3:3000/":  "http://10.1.2.3:3000/",
	} {
		if got := browserURL(in); got != want {
			t.Errorf("browserURL(%s) = %s, want %s", in, got, want)
		}
	}
}
