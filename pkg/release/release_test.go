package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/opencode-cloud/occ/internal/blobsign"
	"github.com/opencode-cloud/occ/pkg/meta"
)

const (
	testVersion = "1.2.3"
	workflow    = "https://github.com/opencode-cloud/occ/.github/workflows/release.yml@refs/tags/v"
)

// archive is a release archive holding occ (content) and a README.
func archive(t *testing.T, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name string
		data []byte
	}{{"README.md", []byte("readme\n")}, {"occ", content}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestVerifyKeyless checks checksums.txt's keyless signature: the release
// workflow at this release's tag, from the trusted Fulcio and Rekor.
func TestVerifyKeyless(t *testing.T) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	arch := ArchiveName(testVersion, "linux", "amd64")
	checksums := []byte(fmt.Sprintf("%s  %s\n", strings.Repeat("ab", 32), arch))
	sign := func(s *ca.VirtualSigstore, identity, issuer string, data []byte) verify.SignedEntity {
		e, err := s.Sign(identity, issuer, data)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	tests := []struct {
		name    string
		entity  verify.SignedEntity
		policy  Policy
		wantErr string
	}{
		{"the release workflow at the tag", sign(vs, workflow+testVersion, meta.DefaultVerifyIssuer, checksums), Policy{}, ""},
		{"another tag's signature", sign(vs, workflow+"1.2.2", meta.DefaultVerifyIssuer, checksums), Policy{}, "does not verify"},
		{"another repository", sign(vs, "https://github.com/evil/occ/.github/workflows/release.yml@refs/tags/v"+testVersion, meta.DefaultVerifyIssuer, checksums), Policy{}, "does not verify"},
		{"another issuer", sign(vs, workflow+testVersion, "https://accounts.example.com", checksums), Policy{}, "does not verify"},
		{"a signature over other content", sign(vs, workflow+testVersion, meta.DefaultVerifyIssuer, append([]byte("00"), checksums...)), Policy{}, "does not verify"},
		{"an untrusted Sigstore", sign(other, workflow+testVersion, meta.DefaultVerifyIssuer, checksums), Policy{}, "does not verify"},
		{"an identity given by the config", sign(vs, "me@example.com", "https://accounts.example.com", checksums),
			Policy{Identity: `me@example\.com`, Issuer: "https://accounts.example.com"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy
			p.TrustedMaterial = vs
			f := &Fetched{Version: testVersion, Archive: arch, Checksums: checksums}
			sums, signer, err := p.VerifyEntity(f, tt.entity)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("VerifyEntity: %v", err)
				}
				if sums[arch] != strings.Repeat("ab", 32) || signer == "" {
					t.Errorf("sums %v, signer %q", sums, signer)
				}
				return
			}
			var se *SignatureError
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &se) || !errdefs.IsFailedPrecondition(err) {
				t.Fatalf("VerifyEntity = %v, want a SignatureError with %q", err, tt.wantErr)
			}
		})
	}
}

// TestVerifyKeyBundle checks key-signed bundles (make release-snapshot's)
// read from their JSON: the key, another key, a missing or broken bundle.
func TestVerifyKeyBundle(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	otherPriv, otherPub := filepath.Join(dir, "o.key"), filepath.Join(dir, "o.pub")
	for _, k := range [][2]string{{priv, pub}, {otherPriv, otherPub}} {
		if err := blobsign.GenerateKey(k[0], k[1]); err != nil {
			t.Fatal(err)
		}
	}
	checksums := []byte(fmt.Sprintf("%s  %s\n", strings.Repeat("cd", 32), ArchiveName(testVersion, "linux", "arm64")))
	path := filepath.Join(dir, ChecksumsFile)
	if err := os.WriteFile(path, checksums, 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := blobsign.LoadKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	bundleJSON, err := blobsign.Sign(context.Background(), path, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		keyFile   string
		checksums []byte
		bundle    []byte
		wantErr   string
	}{
		{"signed with the key", pub, checksums, bundleJSON, ""},
		{"signed with another key", otherPub, checksums, bundleJSON, "does not verify"},
		{"checksums.txt changed after signing", pub, append(bytes.Clone(checksums), []byte(strings.Repeat("ef", 32)+"  occ_9.9.9_linux_arm64.tar.gz\n")...), bundleJSON, "does not verify"},
		{"no bundle", pub, checksums, nil, "has no checksums.txt.sigstore.json"},
		{"not a bundle", pub, checksums, []byte(`{"mediaType":"text/plain"}`), "not a Sigstore bundle"},
		{"keyless policy for a key bundle", "", checksums, bundleJSON, "does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Fetched{Version: testVersion, Checksums: tt.checksums, Bundle: tt.bundle}
			_, _, err := Policy{KeyFile: tt.keyFile}.Verify(f)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.IsFailedPrecondition(err) {
				t.Fatalf("Verify = %v, want %q (failed precondition)", err, tt.wantErr)
			}
		})
	}
}

func TestParseChecksums(t *testing.T) {
	good := strings.Repeat("0a", 32)
	tests := []struct {
		name, in string
		want     map[string]string
		wantErr  string
	}{
		{"two files", good + "  a.tar.gz\n" + strings.ToUpper(good) + " *b.deb\n\n", map[string]string{"a.tar.gz": good, "b.deb": good}, ""},
		{"a short sum", "abcd  a.tar.gz\n", nil, "line 1"},
		{"not hex", strings.Repeat("zz", 32) + "  a.tar.gz\n", nil, "not a SHA-256"},
		{"no file name", good + "\n", nil, "line 1"},
		{"a path", good + "  ../occ\n", nil, "line 1"},
		{"the same file twice", good + "  a\n" + strings.Repeat("0b", 32) + "  a\n", nil, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChecksums([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseChecksums = %v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("ParseChecksums = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// server serves a release tree: download/vV/FILE and latest/download/FILE.
func server(t *testing.T, files map[string][]byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestFetchAndDownload fetches a release by version and as the latest, and
// refuses an archive that does not match checksums.txt.
func TestFetchAndDownload(t *testing.T) {
	bin := []byte("#!/bin/sh\necho new\n")
	good := archive(t, bin)
	name := ArchiveName(testVersion, "linux", "amd64")
	checksums := []byte(sum(good) + "  " + name + "\n" + sum([]byte("x")) + "  " + ArchiveName(testVersion, "linux", "arm64") + "\n")
	tampered := bytes.Clone(good)
	tampered[len(tampered)-1] ^= 1
	tests := []struct {
		name, version string
		archive       []byte
		wantErr       string
	}{
		{"by version", testVersion, good, ""},
		{"the latest", "", good, ""},
		{"v-prefixed", "v" + testVersion, good, ""},
		{"a tampered archive", testVersion, tampered, "does not match checksums.txt"},
		{"no such release", "9.9.9", good, "404"},
		{"no signature", "unsigned", good, "has no checksums.txt.sigstore.json"},
		{"not a version", "1.2", good, "not a release version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := server(t, map[string][]byte{
				"/rel/download/v" + testVersion + "/" + ChecksumsFile:      checksums,
				"/rel/download/v" + testVersion + "/" + BundleFile:         []byte("{}"),
				"/rel/download/v" + testVersion + "/" + name:               tt.archive,
				"/rel/latest/download/" + ChecksumsFile:                    checksums,
				"/rel/latest/download/" + BundleFile:                       []byte("{}"),
				"/unsigned/download/v" + testVersion + "/" + ChecksumsFile: checksums,
			})
			s := Source{URL: srv.URL + "/rel/", GOOS: "linux", GOARCH: "amd64"}
			if tt.version == "unsigned" {
				s.URL, tt.version = srv.URL+"/unsigned/", testVersion
			}
			dir := t.TempDir()
			f, err := s.Fetch(context.Background(), tt.version)
			if err == nil {
				if f.Version != testVersion || f.Archive != name {
					t.Fatalf("Fetch = %+v", f)
				}
				var sums map[string]string
				if sums, err = ParseChecksums(f.Checksums); err != nil {
					t.Fatal(err)
				}
				var path string
				if path, err = s.Download(context.Background(), f, sums, dir); err == nil {
					var out string
					if out, err = ExtractBinary(path, dir); err == nil {
						if got, _ := os.ReadFile(out); !bytes.Equal(got, bin) {
							t.Errorf("extracted %q", got)
						}
					}
				}
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestReplace swaps a binary in place and puts the old one back when the
// new one fails its check.
func TestReplace(t *testing.T) {
	tests := []struct {
		name     string
		check    error
		wantBody string
	}{
		{"the new one runs", nil, "new"},
		{"the new one fails", errors.New("exit status 2"), "old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, "occ")
			if err := os.WriteFile(target, []byte("old"), 0o755); err != nil {
				t.Fatal(err)
			}
			nb, err := writeBinary(dir, strings.NewReader("new"), 3)
			if err != nil {
				t.Fatal(err)
			}
			sawOld := false
			err = Replace(target, nb, func(p string) error {
				got, _ := os.ReadFile(p)
				old, _ := os.ReadFile(target + OldSuffix)
				sawOld = string(got) == "new" && string(old) == "old"
				return tt.check
			})
			if (err != nil) != (tt.check != nil) {
				t.Fatalf("Replace = %v", err)
			}
			var re *RollbackError
			if tt.check != nil && (!errors.As(err, &re) || !strings.Contains(err.Error(), "old binary is back")) {
				t.Errorf("Replace = %v, want a RollbackError", err)
			}
			if !sawOld {
				t.Error("during the check the new binary was not in place with the old one kept as occ.old")
			}
			if got, _ := os.ReadFile(target); string(got) != tt.wantBody {
				t.Errorf("target holds %q, want %q", got, tt.wantBody)
			}
			if st, err := os.Stat(target); err != nil || st.Mode().Perm() != 0o755 {
				t.Errorf("target mode %v, %v", st.Mode(), err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 1 {
				t.Errorf("files left: %v", left)
			}
		})
	}
}

func TestOwningPackage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "occ.list"), []byte("/.\n/usr\n/usr/bin\n/usr/bin/occ\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "libc6:amd64.list"), []byte("/usr/lib/x86_64-linux-gnu/libc.so.6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/usr/bin/occ":                        "dpkg (package occ)",
		"/usr/local/bin/occ":                  "",
		"/usr/lib/x86_64-linux-gnu/libc.so.6": "dpkg (package libc6)",
	} {
		if got := OwningPackage(dir, path); got != want {
			t.Errorf("OwningPackage(%s) = %q, want %q", path, got, want)
		}
	}
}
