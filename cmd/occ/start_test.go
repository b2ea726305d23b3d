package main

import (
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/pkg/ops"
)

func TestStartFlagAction(t *testing.T) {
	tests := []struct {
		c       StartCmd
		want    ops.ImageAction
		wantErr bool
	}{
		{StartCmd{}, ops.ImageKeep, false},
		{StartCmd{PullSandboxImage: true}, ops.ImagePull, false},
		{StartCmd{CachedRebuildSandboxImage: true}, ops.ImageBuildCached, false},
		{StartCmd{FullRebuildSandboxImage: true}, ops.ImageBuildFull, false},
		{StartCmd{PullSandboxImage: true, FullRebuildSandboxImage: true}, ops.ImageKeep, true},
		{StartCmd{CachedRebuildSandboxImage: true, FullRebuildSandboxImage: true}, ops.ImageKeep, true},
		{StartCmd{PullSandboxImage: true, CachedRebuildSandboxImage: true, FullRebuildSandboxImage: true}, ops.ImageKeep, true},
	}
	for _, tt := range tests {
		o, err := tt.c.options()
		got := o.Image
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%+v: got %v %v", tt.c, got, err)
		}
		if err != nil && err.Error() != ops.ErrImageFlags {
			t.Errorf("error text %q", err)
		}
	}
}

func TestStartRefusesBeforeTouchingAnything(t *testing.T) {
	occEnv(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"start", "--pull-sandbox-image", "--cached-rebuild-sandbox-image"}, ops.ErrImageFlags},
		{[]string{"start", "-p", "80"}, "-p/--port must be between 1024 and 65535"},
		{[]string{"start", "--mount", "relative:/x"}, "--mount relative:/x"},
	}
	for _, tt := range tests {
		code, _, errOut := occ(t, "", tt.args...)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: %d %q", tt.args, code, errOut)
		}
	}
}
