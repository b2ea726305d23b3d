//go:build integration

package integration

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// The containerd version matrix (make test-matrix): hack/testbed runs
// containerd 2.4.2 (the default), 1.7.x or Debian 12's 1.6 with Debian's
// runc only (OCC_TESTBED_CONTAINERD), and says which in
// OCC_TEST_CONTAINERD. occ takes a faster path where the daemon can and a
// fallback where it cannot; containerdLeg is what each leg must take, and
// the tests assert the path that ran.

// containerdLeg is one leg of the matrix.
type containerdLeg struct {
	name string // "2.4", "1.7" or "1.6"
	// stream: the overlayfs snapshotter can rebase (containerd >= 2.0), so
	// occ applies layers in-process while they download; else containerd's
	// unpacker applies them from its content store.
	stream bool
	// rootfs: how a user-namespaced sandbox's root file system is made:
	// "idmapped" (the snapshotter's remap-ids, containerd >= 2.0) or
	// "chowned" (a chowned copy, containerd 1.6/1.7).
	rootfs string
	// userns: a runc >= 1.2 is in reach, so the sandbox runs in a user
	// namespace. The 1.6 leg is a stock Debian 12 host (runc 1.1.5 only):
	// occ refuses the user namespace and runs with userns false, as its
	// refusal tells the user.
	userns bool
}

// tbLeg is the leg the testbed runs (2.4 when OCC_TEST_CONTAINERD is unset).
func tbLeg(t testing.TB) containerdLeg {
	t.Helper()
	switch v := os.Getenv("OCC_TEST_CONTAINERD"); v {
	case "", "2.4":
		return containerdLeg{name: "2.4", stream: true, rootfs: "idmapped", userns: true}
	case "1.7":
		return containerdLeg{name: "1.7", stream: false, rootfs: "chowned", userns: true}
	case "1.6":
		return containerdLeg{name: "1.6", stream: false, rootfs: "chowned", userns: false}
	default:
		t.Fatalf("OCC_TEST_CONTAINERD=%q: want 2.4, 1.7 or 1.6 (hack/testbed env prints it)", v)
		return containerdLeg{}
	}
}

// legConfig adapts a fixture's config to the leg: without a runc >= 1.2
// the user namespace is off (what occ's refusal says to do).
func legConfig(t testing.TB, c *meta.Config) {
	if !tbLeg(t).userns {
		c.UserNS = false
	}
}

// unpackNote is what the pull's result says about the unpack path on the leg.
func (l containerdLeg) unpackNote() string {
	if l.stream {
		return ""
	}
	return `snapshotter "overlayfs" cannot rebase`
}

// TestMatrixPaths asserts, on whichever containerd the testbed runs, the
// daemon occ talks to and the path occ took through the commands a user
// runs: pull (in-process unpack or containerd's), users, start (idmapped
// or chowned rootfs, user namespace or not), logs, status, stop.
func TestMatrixPaths(t *testing.T) {
	leg := tbLeg(t)
	tb := tbTestbed(t)
	ctx := tbContext(t, 30*time.Second)
	c := tbContainerd(t, tb, tbNamespace)
	v, err := c.Version(ctx)
	if err != nil {
		t.Fatalf("containerd Version: %v", err)
	}
	if !strings.HasPrefix(strings.TrimPrefix(v.Version, "v"), leg.name+".") {
		t.Fatalf("containerd %s answers, but the testbed says leg %s", v.Version, leg.name)
	}
	caps, err := c.GetSnapshotterCapabilities(ctx, "overlayfs")
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Contains(caps, snapshots.RebaseCap); got != leg.stream {
		t.Errorf("containerd %s overlayfs capabilities %v: rebase %v, want %v", v.Version, caps, got, leg.stream)
	}
	if got := slices.Contains(caps, "remap-ids"); got != (leg.rootfs == "idmapped") {
		t.Errorf("containerd %s overlayfs capabilities %v: remap-ids %v, want rootfs %s", v.Version, caps, got, leg.rootfs)
	}
	t.Logf("leg %s: containerd %s, overlayfs capabilities %v", leg.name, v.Version, caps)

	// The default config (user namespace on), whatever the leg: on 1.6 occ must refuse it first.
	f := newCmdFixture(t, func(c *meta.Config) { c.UserNS = true })
	// pull: the unpack path, said by occ -v.
	r := f.mustOK("image", "pull", "-v")
	if leg.stream {
		wantContains(t, "pull -v", r.stderr, "Layers unpacked in-process while downloading")
	} else {
		wantContains(t, "pull -v", r.stderr, "Layers unpacked by containerd (in-process unpack not possible: "+leg.unpackNote()+")")
	}
	t.Logf("leg %s: pull path: %s", leg.name, pathLine(r.stderr, "Layers unpacked"))

	// users, with the sandbox stopped (the test image has no opencode-cloud-users:
	// e2e adds users to a running real sandbox).
	f.mustOK("user", "add", "bob", "--generate")
	wantContains(t, "user list", f.mustOK("user", "list").stdout, "bob", "enabled")

	// start: the user namespace and the rootfs path, in status --json.
	if !leg.userns {
		r := f.occ("start", "--no-update-check")
		if r.code == 0 {
			t.Fatalf("start with runc 1.1 only: %s", r)
		}
		wantContains(t, "start with runc 1.1 only", r.stderr, "needs runc >= 1.2", "occ config set userns false")
		f.mustOK("config", "set", "userns", "false")
	}
	f.mustOK("start", "--no-update-check")
	js := f.statusJSON()
	sec, _ := js["security"].(map[string]any)
	iso, _ := sec["isolation"].(map[string]any)
	if js["state"] != "running" || iso == nil {
		t.Fatalf("status --json: %v", js)
	}
	if iso["userns"] != leg.userns {
		t.Errorf("leg %s: userns %v, want %v", leg.name, iso["userns"], leg.userns)
	}
	if leg.userns && iso["rootfs"] != leg.rootfs {
		t.Errorf("leg %s: rootfs %v, want %s", leg.name, iso["rootfs"], leg.rootfs)
	}
	t.Logf("leg %s: start path: userns %v, rootfs %v", leg.name, iso["userns"], iso["rootfs"])

	f.mustOK("logs", "-n", "5", "--no-follow")
	f.mustOK("stop")
	if js := f.statusJSON(); js["state"] != "stopped" {
		t.Errorf("status after stop: %v", js["state"])
	}
}

// pathLine is the first line of out containing s, for the test log.
func pathLine(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return strings.TrimSpace(l)
		}
	}
	return "(none)"
}
