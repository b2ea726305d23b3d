package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The CLI as make release-snapshot and .goreleaser.yaml call it: keygen,
// sign -key, verify -key; and the refusals.
func TestSignVerifyCLI(t *testing.T) {
	dir := t.TempDir()
	key, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	file, bundle := filepath.Join(dir, "checksums.txt"), filepath.Join(dir, "checksums.txt.sigstore.json")
	if err := os.WriteFile(file, []byte("abc  occ.tar.gz\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "")
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "")
	if err := run(ctx, []string{"keygen", key, pub}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string // "" = succeeds; else a part of the error
	}{
		{"sign with the key", []string{"sign", "-key", key, "-bundle", bundle, file}, ""},
		{"verify with the key", []string{"verify", "-key", pub, "-bundle", bundle, file}, ""},
		{"verify another file", []string{"verify", "-key", pub, "-bundle", bundle, key}, "does not verify"},
		{"sign without a key", []string{"sign", "-bundle", bundle, file}, "exactly one of -key and -keyless"},
		{"sign with both", []string{"sign", "-key", key, "-keyless", "-bundle", bundle, file}, "exactly one of -key and -keyless"},
		{"keyless outside GitHub Actions", []string{"sign", "-key", "keyless", "-bundle", bundle, file}, "no OIDC token"},
		{"verify without a key or identity", []string{"verify", "-bundle", bundle, file}, "exactly one of -key and -identity-regexp"},
		{"keygen over an existing key", []string{"keygen", key, pub}, "exists"},
		{"unknown command", []string{"frob"}, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(ctx, tt.args)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("signblob %s: %v, want %q", strings.Join(tt.args, " "), err, tt.want)
			}
		})
	}
}
