package main

import (
	"io"
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

func TestChoose(t *testing.T) {
	opts := []string{"one", "two", "three"}
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"\n", 2, false}, {"3\n", 3, false}, {"9\nx\n1\n", 1, false}, {"", 0, true},
	}
	for _, tt := range tests {
		app := &App{Globals: &Globals{}, UI: NewUI(io.Discard, io.Discard, false, 0, false, false), In: strings.NewReader(tt.in), Interactive: true}
		got, err := app.Choose("Pick", opts, 2)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%q: got %d %v", tt.in, got, err)
		}
	}
	app := &App{Globals: &Globals{}, UI: NewUI(io.Discard, io.Discard, false, 0, false, false), In: strings.NewReader("1\n")}
	if _, err := app.Choose("Pick", opts, 1); err == nil {
		t.Error("Choose without a terminal did not fail")
	}
}
