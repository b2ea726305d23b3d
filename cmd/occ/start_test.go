package main

import (
	"strings"
	"testing"
)

func TestStartFlagAction(t *testing.T) {
	tests := []struct {
		c       StartCmd
		want    imageAction
		wantErr bool
	}{
		{StartCmd{}, imageKeep, false},
		{StartCmd{PullSandboxImage: true}, imagePull, false},
		{StartCmd{CachedRebuildSandboxImage: true}, imageBuildCached, false},
		{StartCmd{FullRebuildSandboxImage: true}, imageBuildFull, false},
		{StartCmd{PullSandboxImage: true, FullRebuildSandboxImage: true}, imageKeep, true},
		{StartCmd{CachedRebuildSandboxImage: true, FullRebuildSandboxImage: true}, imageKeep, true},
		{StartCmd{PullSandboxImage: true, CachedRebuildSandboxImage: true, FullRebuildSandboxImage: true}, imageKeep, true},
	}
	for _, tt := range tests {
		got, err := tt.c.flagAction()
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%+v: got %v %v", tt.c, got, err)
		}
		if err != nil && err.Error() != errImageFlags {
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
		{[]string{"start", "--pull-sandbox-image", "--cached-rebuild-sandbox-image"}, errImageFlags},
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
