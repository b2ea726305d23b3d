package testutil

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// LookupTestbed says what is missing and how to get a testbed: a variable
// unset, or a testbed whose containerd socket is gone (down).
func TestLookupTestbed(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "containerd.sock")
	set := func(addr string) {
		t.Setenv("OCC_TESTBED_DIR", "/tmp/tb")
		t.Setenv("CONTAINERD_ADDRESS", addr)
		t.Setenv("BUILDKIT_HOST", "unix:///tmp/tb/run/buildkitd.sock")
		t.Setenv("OCC_TEST_BUILDKIT_OCI", "unix:///tmp/tb/run/buildkitd-oci.sock")
		t.Setenv("OCC_TEST_REGISTRY", "127.0.0.1:5001")
	}
	for _, tc := range []struct {
		name  string
		setup func()
		want  []string // in the error; none: no error
	}{
		{"nothing set", func() {
			for _, k := range []string{"OCC_TESTBED_DIR", "CONTAINERD_ADDRESS", "BUILDKIT_HOST", "OCC_TEST_BUILDKIT_OCI", "OCC_TEST_REGISTRY"} {
				t.Setenv(k, "")
			}
		}, []string{"CONTAINERD_ADDRESS", "OCC_TEST_REGISTRY", "hack/testbed up"}},
		{"one unset", func() { set(sock); t.Setenv("OCC_TEST_REGISTRY", "") }, []string{"(OCC_TEST_REGISTRY)"}},
		{"down", func() { set(sock) }, []string{"not up", sock, "hack/testbed status"}},
		{"up", func() {
			set(sock)
			if err := os.WriteFile(sock, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			tb, err := LookupTestbed()
			if tc.want == nil {
				if err != nil || tb.Containerd != sock || tb.Registry != "127.0.0.1:5001" {
					t.Fatalf("%+v, %v", tb, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error for %s", tc.name)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

// Run reports the exit code and both streams, and kills at the timeout.
func TestRun(t *testing.T) {
	ctx := context.Background()
	r := Run(ctx, t, "/bin/sh", nil, "in", 0, "-c", "cat; echo err >&2; exit 3")
	if r.Code != 3 || r.Stdout != "in" || r.Stderr != "err\n" {
		t.Fatalf("%s", r)
	}
	start := time.Now()
	r = Run(ctx, t, "/bin/sh", nil, "", 200*time.Millisecond, "-c", "sleep 10")
	if r.Code != -1 || !strings.Contains(r.Stderr, "killed after 200ms") || time.Since(start) > 5*time.Second {
		t.Fatalf("timeout: %s after %s", r, time.Since(start))
	}
}

// NewInstall's environment drops the daemon variables and points occ at
// the installation; extra variables win.
func TestNewInstall(t *testing.T) {
	t.Setenv("CONTAINERD_ADDRESS", "/run/elsewhere.sock")
	in := NewInstall(t, "", "NO_COLOR=")
	env := strings.Join(in.Env, "\n")
	for _, want := range []string{"XDG_CONFIG_HOME=" + filepath.Join(in.Base, "config"), "OCC_RUN_DIR=" + in.RunDir, "OCC_CONFIG="} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %s", want)
		}
	}
	if strings.Contains(env, "CONTAINERD_ADDRESS=") {
		t.Errorf("env keeps CONTAINERD_ADDRESS")
	}
	if last := in.Env[len(in.Env)-1]; last != "NO_COLOR=" {
		t.Errorf("extra variables not last: %s", last)
	}
	if in.Paths.ConfigFile != filepath.Join(in.Base, "config", "opencode-cloud", "config.json") {
		t.Errorf("config file %s", in.Paths.ConfigFile)
	}
}
