package build

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

func testCertPEM(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestLoadExtraCA(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string, data []byte) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b, c := testCertPEM(t, "a"), testCertPEM(t, "b"), testCertPEM(t, "c")
	key := []byte("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n")
	badCert := []byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n")

	// A system directory as update-ca-certificates knows it: nested
	// directories, .crt and .pem, other files ignored, junk skipped.
	sys := filepath.Join(dir, "sys")
	write("sys/proxy.crt", a)
	write("sys/corp/bundle.pem", append(append([]byte("comment\n"), b...), c...))
	write("sys/readme.txt", a)
	write("sys/junk.crt", []byte("not a certificate"))
	write("sys/key.pem", key)

	both := write("files/both.pem", append(append([]byte{}, a...), key...))
	onlyKey := write("files/key.pem", key)
	bad := write("files/bad.pem", badCert)

	tests := []struct {
		name      string
		files     []string
		sysDir    string
		wantCount int // -1: nil result
		wantFiles int
		wantSkip  int
		wantErr   string
	}{
		{name: "system directory", sysDir: sys, wantCount: 3, wantFiles: 2, wantSkip: 2},
		{name: "no system directory", sysDir: filepath.Join(dir, "missing"), wantCount: -1},
		{name: "system directory off", sysDir: "", wantCount: -1},
		{name: "configured files replace the directory", files: []string{both}, sysDir: sys, wantCount: 1, wantFiles: 1},
		{name: "configured file missing", files: []string{filepath.Join(dir, "nope.pem")}, sysDir: sys, wantErr: "does not exist"},
		{name: "configured file without a certificate", files: []string{onlyKey}, wantErr: "holds no PEM certificate"},
		{name: "configured file with a broken certificate", files: []string{bad}, wantErr: "does not parse"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ca, err := LoadExtraCA(tc.files, tc.sysDir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v, want an invalid-argument error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantCount < 0 {
				if ca != nil && ca.Count != 0 {
					t.Fatalf("got %d certificates, want none", ca.Count)
				}
				return
			}
			if ca == nil || ca.Count != tc.wantCount || len(ca.Files) != tc.wantFiles || len(ca.Skipped) != tc.wantSkip {
				t.Fatalf("got %+v, want %d certificates from %d files, %d skipped", ca, tc.wantCount, tc.wantFiles, tc.wantSkip)
			}
			// The bundle holds exactly the certificates, each of which parses.
			rest, n := ca.PEM, 0
			for {
				var blk *pem.Block
				blk, rest = pem.Decode(rest)
				if blk == nil {
					break
				}
				if blk.Type != "CERTIFICATE" {
					t.Fatalf("bundle holds a %s block", blk.Type)
				}
				if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != tc.wantCount || strings.Contains(string(ca.PEM), "PRIVATE KEY") {
				t.Fatalf("bundle has %d certificates (want %d) or a key:\n%s", n, tc.wantCount, ca.PEM)
			}
			sec, err := ca.secrets()
			if err != nil || sec == nil {
				t.Fatalf("secrets: %v %v", sec, err)
			}
		})
	}
}

func TestExtraCATooLarge(t *testing.T) {
	ca := &ExtraCA{PEM: make([]byte, 600*1024), Count: 1, Files: []string{"/x.pem"}}
	if _, err := ca.secrets(); err == nil || !errdefs.IsInvalidArgument(err) {
		t.Fatalf("a 600 KiB bundle: %v", err)
	}
	var none *ExtraCA
	if sec, err := none.secrets(); sec != nil || err != nil {
		t.Fatalf("no bundle: %v %v", sec, err)
	}
}
