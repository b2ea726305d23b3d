package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// Bad flags fail before occ takes its lock or dials anything.
func TestImageBuildRejectsBadInputEarly(t *testing.T) {
	tests := []struct {
		name string
		cmd  ImageBuildCmd
		want string
	}{
		{"reserved build arg", ImageBuildCmd{BuildArg: []string{"OCC_VERSION=dev"}}, "OCC_VERSION cannot be given"},
		{"bad build arg", ImageBuildCmd{BuildArg: []string{"not a key=x"}}, "KEY=value"},
		{"bad epoch", ImageBuildCmd{BuildArg: []string{"SOURCE_DATE_EPOCH=soon"}}, "Unix time"},
		{"cache type", ImageBuildCmd{CacheTo: []string{"type=s3,bucket=x"}}, `"s3" is not supported`},
		{"cache src", ImageBuildCmd{CacheFrom: []string{"type=local"}}, "src=DIR"},
		{"missing context", ImageBuildCmd{Context: "/nonexistent/ctx"}, "cannot be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			app := &App{Globals: &Globals{}, Paths: meta.Paths{ConfigFile: filepath.Join(t.TempDir(), "config.json"), DataDir: data},
				UI: NewUI(io.Discard, io.Discard, false, 0, false, false)}
			err := tt.cmd.Run(context.Background(), app)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errdefs.IsInvalidArgument(err) {
				t.Fatalf("err = %v, want invalid argument containing %q", err, tt.want)
			}
			if entries, _ := os.ReadDir(data); len(entries) != 0 {
				t.Errorf("data dir touched: %v", entries)
			}
		})
	}
}
