//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/internal/blobsign"
	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/release"
)

// snapshot is a release made by the project's release packaging:
// goreleaser with .goreleaser.yaml, as make release-snapshot runs it, for
// this platform only (goarch narrowed to it) and without the SBOMs and packages
// (--skip=sbom,nfpm): the archive, checksums.txt and its Sigstore bundle,
// signed by hack/signblob with a throw-away key as the snapshot signs.
type snapshot struct {
	version                   string
	archive                   string // its name
	dir                       string // dist/
	pub, otherKey, otherPub   string // the signing key's public half; another key pair
	checksums, bundle, binary []byte
}

// makeSnapshot builds the release (goreleaser itself built first when
// bin/tools lacks it: make bin/tools/goreleaser).
func makeSnapshot(t *testing.T) *snapshot {
	t.Helper()
	root := testutil.ModuleRoot()
	start := time.Now()
	mk := exec.Command("make", "-C", root, "bin/tools/goreleaser")
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make bin/tools/goreleaser: %v\n%s", err, out)
	}
	t.Logf("goreleaser ready in %s", time.Since(start).Round(time.Second))
	tmp := t.TempDir()
	s := &snapshot{dir: filepath.Join(tmp, "dist"), pub: filepath.Join(tmp, "k.pub"),
		otherKey: filepath.Join(tmp, "o.key"), otherPub: filepath.Join(tmp, "o.pub")}
	key := filepath.Join(tmp, "k.key")
	for _, k := range [][2]string{{key, s.pub}, {s.otherKey, s.otherPub}} {
		if err := blobsign.GenerateKey(k[0], k[1]); err != nil {
			t.Fatal(err)
		}
	}
	// .goreleaser.yaml with dist/ out of the tree.
	cfg, err := os.ReadFile(filepath.Join(root, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Only this platform's build (release has no --single-target).
	const arches = "goarch: [amd64, arm64]"
	if !bytes.Contains(cfg, []byte(arches)) {
		t.Fatalf(".goreleaser.yaml no longer says %q: update this test", arches)
	}
	cfg = bytes.Replace(cfg, []byte(arches), []byte("goarch: ["+runtime.GOARCH+"]"), 1)
	cfgPath := filepath.Join(tmp, "goreleaser.yaml")
	if err := os.WriteFile(cfgPath, append(cfg, []byte("\ndist: "+s.dir+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	vsrc, err := os.ReadFile(filepath.Join(root, "pkg", "meta", "version.go"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*Version\s*=\s*"([^"]+)"`).FindSubmatch(vsrc)
	if m == nil {
		t.Fatal("pkg/meta/version.go names no Version")
	}
	start = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", "tools", "goreleaser"), "release", "--snapshot", "--clean",
		"--skip=sbom,nfpm", "--config", cfgPath)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "OCC_SIGNING_KEY="+key, "OCC_BASE_VERSION="+string(m[1]),
		"PATH="+filepath.Join(root, "bin", "tools")+":"+os.Getenv("PATH"),
		// As make release-snapshot: goreleaser wants a remote's URL.
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=remote.origin.url", "GIT_CONFIG_VALUE_0=https://github.com/opencode-cloud/occ.git")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goreleaser release --snapshot: %v\n%s", err, out)
	}
	t.Logf("goreleaser release --snapshot (linux/%s, no SBOMs or packages): %s", runtime.GOARCH, time.Since(start).Round(time.Second))
	archives, _ := filepath.Glob(filepath.Join(s.dir, fmt.Sprintf("occ_*_linux_%s.tar.gz", runtime.GOARCH)))
	if len(archives) != 1 {
		t.Fatalf("dist holds %v, want one archive for linux/%s", archives, runtime.GOARCH)
	}
	s.archive = filepath.Base(archives[0])
	s.version = strings.TrimSuffix(strings.TrimPrefix(s.archive, "occ_"), "_linux_"+runtime.GOARCH+".tar.gz")
	if s.checksums, err = os.ReadFile(filepath.Join(s.dir, release.ChecksumsFile)); err != nil {
		t.Fatal(err)
	}
	if s.bundle, err = os.ReadFile(filepath.Join(s.dir, release.BundleFile)); err != nil {
		t.Fatal(err)
	}
	if s.binary, err = os.ReadFile(archives[0]); err != nil {
		t.Fatal(err)
	}
	return s
}

// serve lays out releases as GitHub does (download/vV/FILE and
// latest/download/FILE), one tree per name, and serves them on 127.0.0.1.
func serve(t *testing.T, v string, trees map[string]map[string][]byte) string {
	t.Helper()
	root := t.TempDir()
	for name, files := range trees {
		for _, d := range []string{filepath.Join(root, name, "download", "v"+v), filepath.Join(root, name, "latest", "download")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			for f, data := range files {
				if err := os.WriteFile(filepath.Join(d, f), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// oldOcc builds the occ under test as release 0.0.1 (older than any
// snapshot of this tree: a newest release older than the running occ is
// not installed).
func oldOcc(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "occ")
	if err := testutil.GoBuild(p, "./cmd/occ", nil, "-ldflags=-X github.com/opencode-cloud/occ/pkg/meta.Version=0.0.1"); err != nil {
		t.Fatal(err)
	}
	return p
}

// installedOcc copies the occ at src to a directory of its own (the
// self-update replaces it) and returns its path.
func installedOcc(t *testing.T, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "occ")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func versionOf(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	var v struct {
		Occ struct{ Version string } `json:"occ"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	return v.Occ.Version
}

// TestCommandsUpdateCLI: occ update cli against releases made by the
// release packaging and served on 127.0.0.1: the good one installs and the
// new binary reports the release's version; a tampered archive, a bundle of
// another key, no bundle, and a keyless check of a key-signed release are
// refused with the old binary untouched. Then the selector on a terminal
// applies the same update.
func TestCommandsUpdateCLI(t *testing.T) {
	s := makeSnapshot(t)
	tampered := bytes.Clone(s.binary)
	tampered[len(tampered)/2] ^= 0xff
	otherKey, err := blobsign.LoadKey(s.otherKey)
	if err != nil {
		t.Fatal(err)
	}
	otherBundle, err := blobsign.Sign(context.Background(), filepath.Join(s.dir, release.ChecksumsFile), otherKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := map[string][]byte{s.archive: s.binary, release.ChecksumsFile: s.checksums, release.BundleFile: s.bundle}
	with := func(name string, data []byte) map[string][]byte {
		m := map[string][]byte{}
		for k, v := range good {
			m[k] = v
		}
		if data == nil {
			delete(m, name)
		} else {
			m[name] = data
		}
		return m
	}
	url := serve(t, s.version, map[string]map[string][]byte{
		"good":     good,
		"tampered": with(s.archive, tampered),
		"wrongsig": with(release.BundleFile, otherBundle),
		"nosig":    with(release.BundleFile, nil),
	})
	in := testutil.NewInstall(t, "")
	old := oldOcc(t)
	oldVersion := versionOf(t, old)
	if oldVersion == s.version {
		t.Fatalf("the snapshot's version %s is the binary's own", s.version)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" succeeds
	}{
		{"the newest release", []string{"--from", url + "/good", "--key", s.pub}, ""},
		{"the release by --version", []string{"--from", url + "/good/", "--version", s.version, "--key", s.pub}, ""},
		{"a tampered archive", []string{"--from", url + "/tampered", "--key", s.pub}, "does not match checksums.txt"},
		{"signed with another key", []string{"--from", url + "/wrongsig", "--key", s.pub}, "does not verify"},
		{"no signature", []string{"--from", url + "/nosig", "--key", s.pub}, "has no checksums.txt.sigstore.json"},
		{"not the release workflow's identity", []string{"--from", url + "/good"}, "does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := installedOcc(t, old)
			before, _ := os.ReadFile(bin)
			start := time.Now()
			res := testutil.Run(context.Background(), t, bin, in.Env, "", 0, append([]string{"update", "cli", "--yes"}, tt.args...)...)
			t.Logf("occ update cli (%s): exit %d in %s\n%s", tt.name, res.Code, time.Since(start).Round(time.Millisecond), res.Stderr)
			left, _ := os.ReadDir(filepath.Dir(bin))
			if len(left) != 1 {
				t.Errorf("files beside occ: %v, want occ alone (no occ.old, no temporaries)", left)
			}
			if tt.wantErr == "" {
				if res.Code != 0 || !strings.Contains(res.Stderr, "Updated occ from "+oldVersion+" to "+s.version) {
					t.Fatalf("update cli: exit %d\n%s", res.Code, res.Stderr)
				}
				if v := versionOf(t, bin); v != s.version {
					t.Errorf("the new occ reports %s, want %s", v, s.version)
				}
				// Again: nothing to do.
				res = testutil.Run(context.Background(), t, bin, in.Env, "", 0, append([]string{"update", "cli", "--yes"}, tt.args...)...)
				if res.Code != 0 || !strings.Contains(res.Stderr, "already at "+s.version) {
					t.Errorf("a second update cli: exit %d\n%s", res.Code, res.Stderr)
				}
				return
			}
			if res.Code != 1 || !strings.Contains(res.Stderr, tt.wantErr) || !strings.Contains(res.Stderr, "nothing was installed") {
				t.Errorf("update cli: exit %d, want 1 with %q and \"nothing was installed\"\n%s", res.Code, tt.wantErr, res.Stderr)
			}
			if after, _ := os.ReadFile(bin); !bytes.Equal(after, before) {
				t.Error("a refused update changed the binary")
			}
		})
	}

	// The selector on a terminal: the image unticked, occ updated.
	t.Run("the selector", func(t *testing.T) {
		f := newCmdFixture(t, func(c *meta.Config) { c.ReleaseVerifyKey = s.pub })
		f.bin = installedOcc(t, old)
		dialog := []ttyAnswer{
			{"Select updates to apply", "2\n"}, // untick the container image
			{"[ ] 2. Container image", ""},     // shown again
			{"Select updates to apply", "\n"},  // accept
			{"Proceed with the selected updates (1)?", "y\n"},
		}
		out, code := f.occOnTTY(dialog, "update", "--from", url+"/good")
		if code != 0 {
			t.Fatalf("occ update on a terminal: exit %d\n%s", code, out)
		}
		wantContains(t, "selector", out, "Update status", "occ CLI", oldVersion+" -> "+s.version, "[x] 1. occ CLI",
			"Updated occ from "+oldVersion+" to "+s.version)
		if strings.Contains(out, "Pulling the prebuilt sandbox image") {
			t.Errorf("the unticked image update ran:\n%s", out)
		}
		if v := versionOf(t, f.bin); v != s.version {
			t.Errorf("after the selector occ reports %s, want %s", v, s.version)
		}
		// Nothing ticked: nothing changes.
		out, code = f.occOnTTY([]ttyAnswer{{"Select updates to apply", "none\n"}, {"Select updates to apply", "\n"}}, "update", "--from", url+"/good")
		if code != 0 || !strings.Contains(out, "Nothing selected; nothing was changed.") {
			t.Errorf("nothing selected: exit %d\n%s", code, out)
		}
	})
}
