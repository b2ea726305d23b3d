//go:build integration

package integration

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/leases"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// TestCommandsStateRepairedFromRecords: the image records are the truth;
// an image-state file left behind by an occ killed between the record
// write and the state write (a pull: state one image behind; an update:
// current and previous both behind) is rewritten from the records by the
// next command that holds occ's lock and opens containerd.
func TestCommandsStateRepairedFromRecords(t *testing.T) {
	e := rtTestbed(t)
	repo := e.registry + "/test/state-repair"
	d1 := pushAppVariant(t, repo+":1", func(c *v1.Config) { c.Env = append(c.Env, "RELEASE=1") })
	d2 := pushAppVariant(t, repo+":2", func(c *v1.Config) { c.Env = append(c.Env, "RELEASE=2") })
	if d := pushAppVariant(t, repo+":latest", func(c *v1.Config) { c.Env = append(c.Env, "RELEASE=2") }); d != d2 {
		t.Fatalf("the same image pushed twice has two digests: %s %s", d2, d)
	}
	f := newCmdFixture(t, func(c *meta.Config) { c.ImageRepositories = []string{repo} })
	nctx := f.client.WithNamespace(f.ctx)
	prov := func(d, ref string) meta.Provenance {
		return meta.Provenance{Source: meta.SourcePrebuilt, Registry: e.registry, Repository: repo, Reference: ref,
			ManifestDigest: d, Platform: "linux/amd64", ImageVersion: meta.Version}
	}
	p1, p2 := prov(d1, repo+":1"), prov(d2, repo+":2")
	record := func(name, ref string, p meta.Provenance) {
		t.Helper()
		img := rtPull(nctx, t, ctrd(t, f.client), ref, name)
		rec := img.Metadata()
		rec.Labels = p.Labels()
		if _, err := f.client.ImageService().Update(nctx, rec, "labels"); err != nil {
			t.Fatal(err)
		}
	}
	writeState := func(cur meta.Provenance, prev *meta.Provenance) {
		t.Helper()
		if err := meta.SaveState(f.paths.StateFile(), &meta.ImageState{Provenance: cur, Previous: prev}); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name     string
		setup    func()
		cmd      []string
		wantPrev string
	}{
		{"pull killed before the state", func() {
			record(meta.CurrentImageName, repo+":2", p2)
			writeState(p1, nil)
		}, []string{"stop"}, ""},
		{"update killed before the state", func() {
			record(meta.CurrentImageName, repo+":2", p2)
			record(meta.PreviousImageName, repo+":1", p1)
			writeState(p1, nil)
		}, []string{"image", "pull"}, d1},
		{"rollback killed before the state", func() {
			record(meta.CurrentImageName, repo+":1", p1)
			record(meta.PreviousImageName, repo+":2", p2)
			writeState(p2, &p1)
		}, []string{"start"}, d2},
	} {
		outer := f.t
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			defer func() { f.t = outer }()
			tc.setup()
			want, _ := f.client.ImageService().Get(nctx, meta.CurrentImageName)
			wantCur := want.Target.Digest.String()
			if st := f.state(); st.ManifestDigest == wantCur {
				t.Fatalf("the setup left no disagreement: %+v", st)
			}
			f.mustOK(append([]string{"-v"}, tc.cmd...)...)
			st := f.state()
			if st.ManifestDigest != wantCur {
				t.Errorf("after occ %v the state says %s, the record %s", tc.cmd, st.ManifestDigest, wantCur)
			}
			switch {
			case tc.wantPrev == "" && st.Previous != nil:
				t.Errorf("after occ %v the state has previous %s, no record does", tc.cmd, st.Previous.ManifestDigest)
			case tc.wantPrev != "" && (st.Previous == nil || st.Previous.ManifestDigest != tc.wantPrev):
				t.Errorf("after occ %v the state's previous is %+v, the record %s", tc.cmd, st.Previous, tc.wantPrev)
			}
		})
	}
	f.mustOK("stop")
}

// TestCommandsRemoveDeadLeases: a lease whose owner process is gone (an
// occ killed mid-pull) is deleted by the next command that holds the
// lock; a live process's lease, and one without an owner, are kept.
func TestCommandsRemoveDeadLeases(t *testing.T) {
	f := newCmdFixture(t, nil)
	nctx := f.client.WithNamespace(f.ctx)
	lm := f.client.LeasesService()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	mk := func(labels map[string]string) leases.Lease {
		t.Helper()
		l, err := lm.Create(nctx, leases.WithRandomID(), leases.WithExpiration(time.Hour), leases.WithLabels(labels))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = lm.Delete(context.WithoutCancel(nctx), l) })
		return l
	}
	gone := mk(map[string]string{meta.ManagedByLabel: meta.ManagedByValue, meta.LabelOwner: fmt.Sprintf("%d:1", dead.Process.Pid)})
	live := mk(map[string]string{meta.ManagedByLabel: meta.ManagedByValue, meta.LabelOwner: meta.ProcessOwner()})
	other := mk(map[string]string{"someone": "else"})
	f.mustOK("-v", "stop")
	ls, err := lm.List(nctx)
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]bool{}
	for _, l := range ls {
		left[l.ID] = true
	}
	if left[gone.ID] {
		t.Errorf("the lease of a process that is gone is left: %s", gone.ID)
	}
	if !left[live.ID] || !left[other.ID] {
		t.Errorf("a live process's lease (%v) or another tool's (%v) was deleted", left[live.ID], left[other.ID])
	}
}
