package testutil

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// Testbed is where the daemons of hack/testbed answer, as `hack/testbed
// env` exports them.
type Testbed struct {
	Dir         string // OCC_TESTBED_DIR
	Containerd  string // CONTAINERD_ADDRESS: containerd's socket
	Buildkit    string // BUILDKIT_HOST: BuildKit with the containerd worker
	BuildkitOCI string // OCC_TEST_BUILDKIT_OCI: BuildKit with the OCI worker
	Registry    string // OCC_TEST_REGISTRY: the registry, host:port
}

// TestbedHint is how to get a testbed, for failure messages.
const TestbedHint = "run the tests with `make test` (as root), or `hack/testbed up && eval \"$(hack/testbed env)\"` first " +
	"(OCC_TESTBED_DIR and OCC_TESTBED_REGISTRY_PORT choose a testbed of your own)"

// RequireTestbed reads the testbed's environment and fails the test, with
// what is missing and how to get it, when the testbed is not up: a
// variable unset, or containerd's socket absent. It never skips: a skipped
// suite would hide a broken testbed in CI.
func RequireTestbed(t testing.TB) Testbed {
	t.Helper()
	tb, err := LookupTestbed()
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// LookupTestbed is RequireTestbed's check, for code that runs outside a
// test (a TestMain, a sync.Once).
func LookupTestbed() (Testbed, error) {
	var missing []string
	get := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			missing = append(missing, k)
		}
		return v
	}
	tb := Testbed{
		Dir:         get("OCC_TESTBED_DIR"),
		Containerd:  get("CONTAINERD_ADDRESS"),
		Buildkit:    get("BUILDKIT_HOST"),
		BuildkitOCI: get("OCC_TEST_BUILDKIT_OCI"),
		Registry:    get("OCC_TEST_REGISTRY"),
	}
	if len(missing) > 0 {
		return Testbed{}, fmt.Errorf("the testbed's environment is not set (%s): %s", strings.Join(missing, ", "), TestbedHint)
	}
	if _, err := os.Stat(tb.Containerd); err != nil {
		return Testbed{}, fmt.Errorf("the testbed is not up: containerd's socket %s: %v; `hack/testbed status` says why, %s",
			tb.Containerd, err, TestbedHint)
	}
	return tb, nil
}
