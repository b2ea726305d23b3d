package ops

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// TestMountAddRemove runs add and remove against a config file in turn:
// the upsert rules, the --force and --no-validate rules, and that a
// refused change leaves the file as it was.
func TestMountAddRemove(t *testing.T) {
	te := newTestEnv(t, nil)
	a, b := t.TempDir(), t.TempDir()
	ctx := context.Background()
	steps := []struct {
		name       string
		spec       string // add when set, else remove host
		host       string
		o          MountAddOptions
		wantErr    string
		wantChange string
		want       []string
	}{
		{name: "add", spec: a + ":/w/a", wantChange: "added", want: []string{a + ":/w/a"}},
		{name: "again", spec: a + "/:/w/a", wantChange: "unchanged", want: []string{a + ":/w/a"}},
		{name: "replace", spec: b + ":/w/a:ro", wantChange: "replaced", want: []string{b + ":/w/a:ro"}},
		{name: "second", spec: a + ":/w/second", wantChange: "added", want: []string{b + ":/w/a:ro", a + ":/w/second"}},
		{name: "under /var", spec: a + ":/var/www", wantErr: "--force", want: []string{b + ":/w/a:ro", a + ":/w/second"}},
		{name: "under /var forced", spec: a + ":/var/www", o: MountAddOptions{Force: true}, wantChange: "added",
			want: []string{b + ":/w/a:ro", a + ":/w/second", a + ":/var/www"}},
		{name: "refused target", spec: a + ":/usr/bin", o: MountAddOptions{Force: true}, wantErr: "needs for itself",
			want: []string{b + ":/w/a:ro", a + ":/w/second", a + ":/var/www"}},
		{name: "missing dir", spec: a + "/nope:/w/n", wantErr: "--no-validate", want: []string{b + ":/w/a:ro", a + ":/w/second", a + ":/var/www"}},
		{name: "missing dir, no validate", spec: a + "/nope:/w/n", o: MountAddOptions{NoValidate: true}, wantChange: "added",
			want: []string{b + ":/w/a:ro", a + ":/w/second", a + ":/var/www", a + "/nope:/w/n"}},
		{name: "remove", host: a, wantChange: "removed", want: []string{b + ":/w/a:ro", a + "/nope:/w/n"}},
		{name: "remove unknown", host: "/elsewhere", wantErr: "occ mount list", want: []string{b + ":/w/a:ro", a + "/nope:/w/n"}},
	}
	for _, st := range steps {
		var res *MountChangeResult
		var err error
		if st.spec != "" {
			res, err = te.MountAdd(ctx, st.spec, st.o)
		} else {
			res, err = te.MountRemove(ctx, st.host)
		}
		switch {
		case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)):
			t.Errorf("%s: err = %v, want one with %q", st.name, err, st.wantErr)
		case st.wantErr == "" && err != nil:
			t.Errorf("%s: %v", st.name, err)
		case err == nil && (res.Change != st.wantChange || res.Applied != MountsUnknown):
			t.Errorf("%s: change %s applied %s, want %s unknown", st.name, res.Change, res.Applied, st.wantChange)
		}
		cfg, _, err := meta.LoadConfig(te.Paths.ConfigFile)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cfg.Mounts, st.want) {
			t.Errorf("%s: config mounts %q, want %q", st.name, cfg.Mounts, st.want)
		}
	}
	l, err := te.MountList(ctx)
	if err != nil || len(l.Mounts) != 2 || l.Mounts[0].Host != b || !l.Mounts[0].ReadOnly {
		t.Errorf("MountList = %+v, %v", l, err)
	}
}

func TestCleanMountDirs(t *testing.T) {
	te := newTestEnv(t, nil)
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if err := os.MkdirAll(filepath.Join(d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "sub", "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := meta.DefaultConfig()
	cfg.Mounts = []string{a + ":/w/a", b + ":/w/b", filepath.Join(a, "gone") + ":/w/gone"}
	dirs, err := te.cleanableMountDirs(cfg)
	if err != nil || !reflect.DeepEqual(dirs, []string{a, b}) {
		t.Fatalf("cleanableMountDirs = %q, %v", dirs, err)
	}
	if _, err := te.cleanMountDirs(cfg, []string{a}, false); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(a); len(ents) != 0 {
		t.Errorf("%s not emptied: %v", a, ents)
	}
	if _, err := os.Stat(a); err != nil {
		t.Errorf("clean removed the directory itself: %v", err)
	}
	res, err := te.cleanMountDirs(cfg, []string{b}, true)
	if err != nil || !res.Purged {
		t.Fatal(res, err)
	}
	if _, err := os.Stat(b); !os.IsNotExist(err) {
		t.Errorf("purge left %s: %v", b, err)
	}
	saved, _, _ := meta.LoadConfig(te.Paths.ConfigFile)
	if want := []string{a + ":/w/a", filepath.Join(a, "gone") + ":/w/gone"}; !reflect.DeepEqual(saved.Mounts, want) {
		t.Errorf("after purge the config has %q, want %q", saved.Mounts, want)
	}

	home, _ := os.UserHomeDir()
	if err := os.MkdirAll(te.Paths.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"/tmp", home, te.Paths.DataDir, filepath.Dir(te.Paths.DataDir)} {
		cfg.Mounts = []string{a + ":/w/a", bad + ":/w/bad"}
		if _, err := te.cleanableMountDirs(cfg); err == nil || !errdefs.IsInvalidArgument(err) {
			t.Errorf("cleanableMountDirs with %s = %v, want a refusal", bad, err)
		}
	}
}
