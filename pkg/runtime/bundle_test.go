package runtime

import (
	"errors"
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
