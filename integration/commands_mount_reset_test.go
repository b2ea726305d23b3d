//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// TestCommandsMountsAndReset drives occ mount, status's mounts and disk,
// reset container, uninstall --volumes and reset host through the real
// binary on one throw-away installation, with an unrelated image and
// container in the same namespace that must survive.
func TestCommandsMountsAndReset(t *testing.T) {
	f := newCmdFixture(t, nil)
	f.importImage(meta.Provenance{Source: meta.SourcePrebuilt, Registry: rtTestbed(t).registry, ImageVersion: meta.Version})
	a, b := filepath.Join(f.base, "mnt-a"), filepath.Join(f.base, "mnt-b")
	for _, d := range []string{a, b} {
		if err := os.MkdirAll(filepath.Join(d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "sub", "keep.txt"), []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const target = "/home/opencoder/workspace/a"

	// mount add / list / remove, before there is a container.
	r := f.mustOK("mount", "add", a+":"+target)
	wantContains(t, "mount add", r.stderr, "Added mount: "+a+":"+target, "Undo: occ mount remove "+a, "no container yet")
	r = f.mustOK("mount", "add", a+"/:"+target)
	wantContains(t, "mount add again", r.stderr, "Already configured: "+a+":"+target)
	r = f.mustOK("mount", "add", b+":"+target+":ro")
	wantContains(t, "mount add replace", r.stderr, "Replaced mount target "+target+": "+a+":"+target+" -> "+b+":"+target+":ro",
		"Undo: occ mount add "+a+":"+target)
	if r := f.occ("mount", "add", a+":/var/www"); r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("mount add under /var without --force: %s", r)
	}
	if r := f.occ("mount", "add", filepath.Join(f.base, "nope")+":/w/n"); r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("mount add of a missing directory: %s", r)
	}
	f.mustOK("mount", "add", a+":/home/opencoder/workspace/second")
	if r := f.mustOK("mount", "list", "--names-only"); r.stdout != b+"\n"+a+"\n" {
		t.Errorf("mount list --names-only: %q", r.stdout)
	}
	f.mustOK("mount", "remove", a)
	var list struct {
		Mounts  []map[string]any `json:"mounts"`
		Applied string           `json:"applied"`
	}
	if err := json.Unmarshal([]byte(f.mustOK("mount", "list", "--json").stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Mounts) != 1 || list.Mounts[0]["host"] != b || list.Mounts[0]["read_only"] != true || list.Applied != "no_container" {
		t.Errorf("mount list --json after remove: %+v", list)
	}

	// A running sandbox with the configured mount: status shows it and the disk.
	cfg, _, err := meta.LoadConfig(f.paths.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.startSandbox()
	r = f.mustOK("status")
	wantContains(t, "status", r.stdout, "\nMounts\n------\n", "    "+b+" -> "+target+" ro (config)\n",
		"(volume)\n", "occ's disk usage (current):\n", "  Snapshots:   ", "Host disk (")
	js := f.statusJSON()
	disk, _ := js["disk"].(map[string]any)
	host, _ := disk["host"].(map[string]any)
	if disk["images_bytes"].(float64) <= 0 || host["total_bytes"].(float64) <= 0 || disk["total_bytes"].(float64) < disk["images_bytes"].(float64) {
		t.Errorf("status --json disk: %v", disk)
	}
	if m, _ := js["mounts"].(map[string]any); m["in_force"] != true || m["differs_from_config"] != nil {
		t.Errorf("status --json mounts: %v", js["mounts"])
	}
	r = f.mustOK("mount", "add", a+":/home/opencoder/workspace/c")
	wantContains(t, "mount add while running", r.stderr, "the container has other mounts than the config. Run `occ restart`")
	wantContains(t, "status after a mount change", f.mustOK("status").stdout, "differ from the config")
	if r := f.occ("mount", "clean", "--force"); r.code != 1 || !strings.Contains(r.stderr, "stop it first") {
		t.Errorf("mount clean while running: %s", r)
	}

	// Another tool's image (the test image under its registry name) and
	// container in the same namespace.
	c := ctrd(t, f.client)
	nctx := f.client.WithNamespace(f.ctx)
	other := rtAppImage(t, rtTestbed(t))
	img, err := c.GetImage(nctx, other)
	if err != nil {
		t.Fatalf("the unrelated image %s: %v", other, err)
	}
	otherID := "not-occs-" + strings.ToLower(t.Name())
	otherCtr, err := c.NewContainer(nctx, otherID, containerd.WithImage(img),
		containerd.WithNewSnapshot(otherID+"-snapshot", img), containerd.WithNewSpec(oci.WithImageConfig(img)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = otherCtr.Delete(context.WithoutCancel(nctx), containerd.WithSnapshotCleanup) })

	// reset container: refused without --force off a terminal, then all of it.
	if r := f.occ("reset", "container", "--volumes"); r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("reset container without --force: %s", r)
	}
	if r := f.occ("reset", "container", "--clean-mounts", "--purge-mounts", "--force"); r.code != 2 {
		t.Errorf("reset container --clean-mounts --purge-mounts: %s", r)
	}
	if ok, _ := f.sandbox().Exists(f.ctx); !ok {
		t.Fatal("a refused reset removed the container")
	}
	users := filepath.Join(f.paths.VolumesDir(), runtime.UsersVolume)
	r = f.mustOK("reset", "container", "--volumes", "--images", "--clean-mounts", "--force")
	wantContains(t, "reset container", r.stdout, "Removed: container "+meta.ContainerName, "Removed: volume opencode-users (",
		"Removed: images "+meta.CurrentImageName, "Removed: contents of mount directories ", "before", "after", "  Images ", "Host disk (")
	if ok, _ := f.sandbox().Exists(f.ctx); ok {
		t.Error("reset container left the container")
	}
	if _, err := os.Stat(users); !os.IsNotExist(err) {
		t.Errorf("reset container --volumes left %s: %v", users, err)
	}
	if _, err := f.client.ImageService().Get(nctx, meta.CurrentImageName); !errdefs.IsNotFound(err) {
		t.Errorf("reset container --images left %s: %v", meta.CurrentImageName, err)
	}
	if _, err := f.client.ImageService().Get(nctx, other); err != nil {
		t.Errorf("reset removed another tool's image %s: %v", other, err)
	}
	if _, err := c.LoadContainer(nctx, otherCtr.ID()); err != nil {
		t.Errorf("reset removed another tool's container: %v", err)
	}
	for _, d := range []string{a, b} {
		if ents, err := os.ReadDir(d); err != nil || len(ents) != 0 {
			t.Errorf("--clean-mounts: %s holds %v (%v), want an empty directory", d, ents, err)
		}
	}

	// uninstall --volumes: needs --force; without a unit it still removes the volumes.
	if r := f.occ("uninstall", "--volumes"); r.code != 2 || !strings.Contains(r.stderr, "The --volumes flag requires --force") {
		t.Errorf("uninstall --volumes without --force: %s", r)
	}
	ws := filepath.Join(f.paths.VolumesDir(), "opencode-workspace")
	if err := os.MkdirAll(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	r = f.mustOK("uninstall", "--volumes", "--force")
	wantContains(t, "uninstall --volumes", r.stdout, "Removed: volume opencode-workspace")
	if _, err := os.Stat(ws); !os.IsNotExist(err) {
		t.Errorf("uninstall --volumes left %s", ws)
	}

	// reset host: unit, mount directories, config and data directories.
	unit := filepath.Join(f.base, "config", "systemd", "user", meta.AppName+".service")
	if err := os.MkdirAll(filepath.Dir(unit), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unit, []byte("[Unit]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantContains(t, "uninstall --dry-run", f.mustOK("uninstall", "--dry-run").stderr, "Would remove service at: "+unit)
	if r := f.occ("reset", "host"); r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("reset host without --force: %s", r)
	}
	r = f.mustOK("reset", "host", "--force")
	wantContains(t, "reset host", r.stdout, "Removed: systemd unit", "Removed: mount directories ",
		"Removed: directory "+f.paths.ConfigDir(), "Removed: directory "+f.paths.DataDir)
	for _, p := range []string{unit, a, b, f.paths.ConfigDir(), f.paths.DataDir} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("reset host left %s (%v)", p, err)
		}
	}
	if _, err := f.client.ImageService().Get(nctx, other); err != nil {
		t.Errorf("reset host removed another tool's image %s: %v", other, err)
	}
}
