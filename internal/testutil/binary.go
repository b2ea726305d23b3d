package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// ModuleRoot is the directory of occ's go.mod.
func ModuleRoot() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..")
}

// GoBuild runs `go build [flags] -o out pkg` in the module root with env
// added to this process's environment (CGO_ENABLED=0, GOARCH=…).
func GoBuild(out, pkg string, env []string, flags ...string) error {
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = ModuleRoot()
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

var occBin struct {
	sync.Once
	path string
	err  error
}

// OccBinary builds ./cmd/occ once per test process and returns its path
// (in a temporary directory of its own, left for the OS to clean: tests
// of one run share it).
func OccBinary(t testing.TB) string {
	t.Helper()
	occBin.Do(func() {
		dir, err := os.MkdirTemp("", "occ-bin-")
		if err != nil {
			occBin.err = err
			return
		}
		occBin.path = filepath.Join(dir, "occ")
		occBin.err = GoBuild(occBin.path, "./cmd/occ", nil)
	})
	if occBin.err != nil {
		t.Fatal(occBin.err)
	}
	return occBin.path
}
