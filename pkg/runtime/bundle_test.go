package runtime

import (
	"errors"
	"slices"
	"testing"
)

func TestStaleBundlePath(t *testing.T) {
	const ns, id = "opencode-cloud", "opencode-cloud-sandbox"
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"other error", errors.New("task already exists"), ""},
		{"the kill suite's", errors.New("failed to create shim task: mkdir /tmp/tb/containerd/state/io.containerd.runtime.v2.task/opencode-cloud/opencode-cloud-sandbox: file exists: unknown"),
			"/tmp/tb/containerd/state/io.containerd.runtime.v2.task/opencode-cloud/opencode-cloud-sandbox"},
		{"default state dir", errors.New("mkdir /run/containerd/io.containerd.runtime.v2.task/opencode-cloud/opencode-cloud-sandbox: file exists"),
			"/run/containerd/io.containerd.runtime.v2.task/opencode-cloud/opencode-cloud-sandbox"},
		{"another container", errors.New("mkdir /run/containerd/io.containerd.runtime.v2.task/opencode-cloud/other: file exists"), ""},
		{"another namespace", errors.New("mkdir /run/containerd/io.containerd.runtime.v2.task/default/opencode-cloud-sandbox: file exists"), ""},
		{"not a task bundle", errors.New("mkdir /var/lib/opencode-cloud/opencode-cloud-sandbox: file exists"), ""},
		{"not clean", errors.New("mkdir /run/containerd/io.containerd.runtime.v2.task/x/../opencode-cloud/opencode-cloud-sandbox: file exists"), ""},
		{"relative", errors.New("mkdir io.containerd.runtime.v2.task/opencode-cloud/opencode-cloud-sandbox: file exists"), ""},
	} {
		got, ok := staleBundlePath(tc.err, ns, id)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: staleBundlePath = %q, %v; want %q", tc.name, got, ok, tc.want)
		}
	}
}

func TestLinesSince(t *testing.T) {
	l := func(s ...string) []string { return s }
	for _, tc := range []struct {
		name               string
		before, tail, want []string
	}{
		{"fresh log", nil, l("a", "b"), l("a", "b")},
		{"nothing new", l("a", "b"), l("a", "b"), l()},
		{"new after old", l("a", "b"), l("a", "b", "c"), l("c")},
		{"tail starts inside the old lines", l("a", "b", "c"), l("b", "c", "d", "e"), l("d", "e")},
		{"the old fatal line is not new", l("ready", "error mounting /etc/hosts: no such file or directory"),
			l("error mounting /etc/hosts: no such file or directory", "listening", "ready"), l("listening", "ready")},
		{"no overlap: rotated", l("a", "b"), l("x", "y"), l("x", "y")},
		{"a repeated line counts once more", l("x"), l("x", "x"), l("x")},
	} {
		if got := linesSince(tc.before, tc.tail); !slices.Equal(got, tc.want) {
			t.Errorf("%s: linesSince = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestIsStaleRuncState(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("failed to create shim task: OCI runtime create failed: runc create failed: container with given ID already exists: unknown"), true},
		{errors.New("task opencode-cloud-sandbox: already exists"), false},
	} {
		if got := isStaleRuncState(tc.err); got != tc.want {
			t.Errorf("isStaleRuncState(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
