package runtime

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestOrphanedShims(t *testing.T) {
	proc := t.TempDir()
	write := func(pid string, argv ...string) {
		t.Helper()
		d := filepath.Join(proc, pid)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cmdline"), []byte(strings.Join(argv, "\x00")+"\x00"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const ns, id, addr = "opencode-cloud", "opencode-cloud-sandbox", "/run/containerd/containerd.sock"
	shim := "/usr/bin/containerd-shim-runc-v2"
	write("101", shim, "-namespace", ns, "-id", id, "-address", addr)                         // ours
	write("102", shim, "-namespace", ns, "-id", id, "-address", "/tmp/other/containerd.sock") // another containerd's
	write("103", shim, "-namespace", "other", "-id", id, "-address", addr)                    // another namespace
	write("104", shim, "-namespace", ns, "-id", id+"-2", "-address", addr)                    // another container
	write("105", "/usr/bin/bash", "-c", "-namespace "+ns+" -id "+id+" -address "+addr)        // not a shim
	write("106", "/usr/bin/sleep", "-namespace", ns, "-id", id, "-address", addr)             // not a shim either
	write("107", shim, "-namespace", ns, "-address", addr, "-id", id, "-publish-binary", "/usr/bin/containerd")
	write("self")
	if got, want := orphanedShims(proc, ns, id, addr), []int{101, 107}; !reflect.DeepEqual(got, want) {
		t.Errorf("orphanedShims = %v, want %v", got, want)
	}
	if got := orphanedShims(filepath.Join(proc, "missing"), ns, id, addr); got != nil {
		t.Errorf("no proc: %v", got)
	}
}
