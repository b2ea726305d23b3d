package ops

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/internal/blobsign"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/release"
)

// fakeRelease serves release version whose occ is a shell script printing
// `occ version --json` with reports, signed with a fresh key; it returns
// the releases URL and the public key.
func fakeRelease(t *testing.T, version, reports string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	script := []byte("#!/bin/sh\necho '{\"occ\":{\"version\":\"" + reports + "\"}}'\n")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "occ", Mode: 0o755, Size: int64(len(script)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(script)
	tw.Close()
	zw.Close()
	name := release.ArchiveName(version, runtime.GOOS, runtime.GOARCH)
	sum := sha256.Sum256(buf.Bytes())
	sums := filepath.Join(dir, release.ChecksumsFile)
	if err := os.WriteFile(sums, []byte(hex.EncodeToString(sum[:])+"  "+name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	priv, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	if err := blobsign.GenerateKey(priv, pub); err != nil {
		t.Fatal(err)
	}
	key, err := blobsign.LoadKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := blobsign.Sign(context.Background(), sums, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	checksums, _ := os.ReadFile(sums)
	files := map[string][]byte{name: buf.Bytes(), release.ChecksumsFile: checksums, release.BundleFile: bundle}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, prefix := range []string{"/download/v" + version + "/", "/latest/download/"} {
			if f, ok := strings.CutPrefix(r.URL.Path, prefix); ok && files[f] != nil {
				w.Write(files[f])
				return
			}
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, pub
}

// TestUpdateCLI runs the self-update on a stand-in binary: installed when
// the new one reports the release's version, put back when it does not,
// refused for a dpkg-owned binary and off a terminal without --yes.
func TestUpdateCLI(t *testing.T) {
	const newVersion = "9.9.9"
	tests := []struct {
		name     string
		version  string // the release's ("": newVersion)
		reports  string // what the new binary says it is
		dpkg     bool   // dpkg lists the binary
		tty, yes bool
		wantErr  string
		wantOld  bool // the old binary is in place afterwards
	}{
		{name: "installed", reports: newVersion, yes: true},
		{name: "asked on a terminal", reports: newVersion, tty: true},
		{name: "the new binary is not the release", reports: "1.0.0", yes: true, wantErr: "the old binary is back", wantOld: true},
		{name: "owned by dpkg", reports: newVersion, yes: true, dpkg: true, wantErr: "apt", wantOld: true},
		{name: "no terminal, no --yes", reports: newVersion, wantErr: "--yes", wantOld: true},
		{name: "the newest release is older", version: "0.0.1", reports: "0.0.1", yes: true, wantOld: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			version := newVersion
			if tt.version != "" {
				version = tt.version
			}
			url, pub := fakeRelease(t, version, tt.reports)
			te := newTestEnv(t, nil)
			te.prompt.tty = tt.tty
			bin := filepath.Join(t.TempDir(), "occ")
			if err := os.WriteFile(bin, []byte("#!/bin/sh\necho old\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			dpkg := t.TempDir()
			if tt.dpkg {
				os.WriteFile(filepath.Join(dpkg, "occ.list"), []byte(bin+"\n"), 0o644)
			}
			res, err := te.UpdateCLI(context.Background(), UpdateCLIOptions{Yes: tt.yes, From: url, KeyFile: pub, Executable: bin, DpkgInfoDir: dpkg})
			if tt.wantErr == "" {
				if err != nil || res.From != meta.Version || res.UpToDate != tt.wantOld || (!tt.wantOld && res.To != version) {
					t.Fatalf("UpdateCLI = %+v, %v", res, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("UpdateCLI = %v, want an error with %q", err, tt.wantErr)
			}
			if tt.dpkg && !errdefs.IsFailedPrecondition(err) {
				t.Errorf("a dpkg binary: %v is not a failed precondition", err)
			}
			got, _ := os.ReadFile(bin)
			if old := string(got) == "#!/bin/sh\necho old\n"; old != tt.wantOld {
				t.Errorf("the binary afterwards: %q (want the old one: %v)", got, tt.wantOld)
			}
			if left, _ := os.ReadDir(filepath.Dir(bin)); len(left) != 1 {
				t.Errorf("left beside the binary: %v", left)
			}
		})
	}
}
