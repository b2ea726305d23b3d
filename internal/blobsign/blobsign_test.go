package blobsign

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/testing/ca"
)

func TestKeySignVerify(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	if err := GenerateKey(priv, pub); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(priv); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("private key mode: %v %v", st.Mode(), err)
	}
	if err := GenerateKey(priv, pub); err == nil {
		t.Error("GenerateKey overwrote an existing key")
	}
	other, otherPub := filepath.Join(dir, "o.key"), filepath.Join(dir, "o.pub")
	if err := GenerateKey(other, otherPub); err != nil {
		t.Fatal(err)
	}
	artifact := filepath.Join(dir, "checksums.txt")
	content := []byte("0123abcd  occ_0.1.0_linux_amd64.tar.gz\n")
	if err := os.WriteFile(artifact, content, 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := LoadKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	data, err := Sign(context.Background(), artifact, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"`) {
		t.Errorf("not a v0.3 bundle: %s", data)
	}
	bpath := filepath.Join(dir, "checksums.txt.sigstore.json")
	if err := os.WriteFile(bpath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := LoadBundle(bpath)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		pub      string
		artifact []byte
		ok       bool
	}{
		{"the key and the file", pub, content, true},
		{"a changed file", pub, append(bytes.Clone(content), '\n'), false},
		{"another key", otherPub, content, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm, err := PublicKeyMaterial(tt.pub)
			if err != nil {
				t.Fatal(err)
			}
			err = Verify(b, bytes.NewReader(tt.artifact), tm, nil)
			if (err == nil) != tt.ok {
				t.Errorf("Verify = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestLoadKeyRefuses(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	if err := GenerateKey(priv, pub); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{pub, garbage, filepath.Join(dir, "missing")} {
		if _, err := LoadKey(p); err == nil {
			t.Errorf("LoadKey(%s) accepted it", p)
		}
	}
	if _, err := Sign(context.Background(), pub, nil, nil); err == nil {
		t.Error("Sign without a key or keyless options succeeded")
	}
	if _, err := Sign(context.Background(), pub, nil, &KeylessOptions{}); err == nil || !strings.Contains(err.Error(), "OIDC token") {
		t.Errorf("keyless Sign without a token: %v", err)
	}
}

// Keyless verification against a Sigstore in memory: the certificate's
// identity and issuer must match, and the artifact.
func TestKeylessVerify(t *testing.T) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	const workflow = "https://github.com/opencode-cloud/occ/.github/workflows/release.yml@refs/tags/v0.1.0"
	artifact := []byte("checksums\n")
	entity, err := vs.Sign(workflow, GitHubIssuer, artifact)
	if err != nil {
		t.Fatal(err)
	}
	release := `^https://github\.com/opencode-cloud/occ/\.github/workflows/release\.yml@refs/tags/v`
	tests := []struct {
		name     string
		id       Identity
		artifact []byte
		ok       bool
	}{
		{"the release workflow", Identity{release, GitHubIssuer}, artifact, true},
		{"another repository", Identity{`^https://github\.com/someone/else/`, GitHubIssuer}, artifact, false},
		{"another issuer", Identity{release, "https://accounts.google.com"}, artifact, false},
		{"another file", Identity{release, GitHubIssuer}, []byte("other\n"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(entity, bytes.NewReader(tt.artifact), vs, &tt.id)
			if (err == nil) != tt.ok {
				t.Errorf("Verify = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
