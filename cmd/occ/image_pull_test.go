package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/opencode-cloud/occ/pkg/registry"
)

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 1 << 30: "1.0 GiB", 961 << 20: "961.0 MiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPullProgressPlain(t *testing.T) {
	d := digest.FromString("layer")
	tests := []struct {
		name    string
		quiet   bool
		verbose int
		want    []string
		notWant []string
	}{
		{name: "default", want: []string{"Warning: a:latest failed: 404 Not Found; trying b:latest", "Retrying blob " + d.String()[:19] + " in 1s (attempt 2)"}, notWant: []string{"already present", "fetched"}},
		{name: "verbose", verbose: 1, want: []string{"blob " + d.String()[:19] + " fetched (2.0 MiB)", "a:latest is"}},
		{name: "quiet keeps warnings only", quiet: true, want: []string{"Warning: a:latest failed"}, notWant: []string{"Retrying", "blob "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			app := &App{UI: NewUI(&out, &errOut, tc.quiet, tc.verbose, false, false)}
			pp := newPullProgress(app)
			pp.lastLine = time.Time{} // print the periodic line at once
			for _, e := range []registry.Event{
				{Kind: registry.EventResolved, Reference: "a:latest", Digest: d, Manifest: d, Platform: "linux/amd64"},
				{Kind: registry.EventFallback, Reference: "a:latest", Err: errors.New("404 Not Found"), Next: "b:latest"},
				{Kind: registry.EventManifest, Size: 2 << 20},
				{Kind: registry.EventBlobStart, Digest: d, Size: 2 << 20},
				{Kind: registry.EventRetry, Digest: d, Attempt: 1, Wait: time.Second, Err: errors.New("connection reset")},
				{Kind: registry.EventBlobProgress, Digest: d, Size: 2 << 20, Offset: 1 << 20},
				{Kind: registry.EventBlobDone, Digest: d, Size: 2 << 20},
			} {
				pp.event(e)
			}
			pp.close(true)
			got := errOut.String()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("output has %q:\n%s", w, got)
				}
			}
			if out.Len() != 0 {
				t.Errorf("progress went to stdout: %q", out.String())
			}
		})
	}
}
