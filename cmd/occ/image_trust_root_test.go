package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/trust"
)

// TestVerifyPolicy: which key or trusted root a pull verifies with.
func TestVerifyPolicy(t *testing.T) {
	_, pub, err := trust.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cfg       func(c *meta.Config, dir string)
		refreshed []byte // the data directory's trusted_root.json, if any
		key, root bool   // PublicKey / TrustedMaterial set
		wantErr   string
	}{
		{name: "defaults: the embedded root", cfg: func(*meta.Config, string) {}},
		{name: "refreshed root", cfg: func(*meta.Config, string) {}, refreshed: trust.EmbeddedTrustedRootJSON(), root: true},
		{name: "broken refreshed root", cfg: func(*meta.Config, string) {}, refreshed: []byte("{"), wantErr: "occ image trust-root --refresh"},
		{name: "configured root wins", cfg: func(c *meta.Config, dir string) {
			c.ImageVerifyRoot = filepath.Join(dir, "root.json")
			_ = os.WriteFile(c.ImageVerifyRoot, trust.EmbeddedTrustedRootJSON(), 0o644)
		}, refreshed: []byte("{"), root: true},
		{name: "key", cfg: func(c *meta.Config, dir string) {
			c.ImageVerifyKey = filepath.Join(dir, "k.pub")
			_ = os.WriteFile(c.ImageVerifyKey, pub, 0o644)
		}, key: true},
		{name: "missing key", cfg: func(c *meta.Config, dir string) { c.ImageVerifyKey = filepath.Join(dir, "nope.pub") }, wantErr: "image_verify_key"},
		{name: "off reads nothing", cfg: func(c *meta.Config, dir string) {
			c.ImageVerify = meta.VerifyOff
			c.ImageVerifyKey = filepath.Join(dir, "nope.pub")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			paths := meta.Paths{ConfigFile: filepath.Join(dir, "config.json"), DataDir: filepath.Join(dir, "data")}
			if tc.refreshed != nil {
				if err := os.MkdirAll(paths.DataDir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(paths.TrustedRootFile(), tc.refreshed, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg := meta.DefaultConfig()
			tc.cfg(cfg, dir)
			p, err := verifyPolicy(cfg, paths)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (p.PublicKey != nil) != tc.key || (p.TrustedMaterial != nil) != tc.root {
				t.Errorf("policy key=%v root=%v, want key=%v root=%v", p.PublicKey != nil, p.TrustedMaterial != nil, tc.key, tc.root)
			}
		})
	}
}
