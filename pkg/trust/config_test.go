package trust

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
)

func TestDescribe(t *testing.T) {
	signed := time.Date(2026, 12, 1, 10, 0, 0, 0, time.FixedZone("x", 3600))
	tests := []struct {
		v    meta.Verification
		want string
	}{
		{meta.Verification{Method: meta.VerifyKey, Identity: "0123456789abcdef0123"}, "key 0123456789abcdef"},
		{meta.Verification{Method: meta.VerifyKeyless, Identity: "https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1", Issuer: "https://token.actions.githubusercontent.com",
			SignedAt: signed, BundleDigest: "sha256:0123456789abcdef0123456789"},
			"https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1 (issuer https://token.actions.githubusercontent.com), signed 2026-12-01T09:00:00Z, bundle sha256:0123456789ab"},
	}
	for _, tt := range tests {
		if got := Describe(&tt.v); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}

func TestPolicyFromConfig(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.json")
	if err := os.WriteFile(garbage, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		set      func(c *meta.Config)
		rootFile string
		errHas   string
	}{
		{"embedded root", func(*meta.Config) {}, filepath.Join(dir, "none.json"), ""},
		{"verify off ignores a bad key", func(c *meta.Config) { c.ImageVerify, c.ImageVerifyKey = meta.VerifyOff, garbage }, "", ""},
		{"bad key", func(c *meta.Config) { c.ImageVerifyKey = garbage }, "", "image_verify_key"},
		{"bad configured root", func(c *meta.Config) { c.ImageVerifyRoot = garbage }, "", "image_verify_trusted_root"},
		{"bad fetched root", func(*meta.Config) {}, garbage, "occ image trust-root --refresh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := meta.DefaultConfig()
			tt.set(cfg)
			p, err := PolicyFromConfig(cfg, tt.rootFile)
			if tt.errHas == "" {
				if err != nil || p.Issuer != cfg.ImageVerifyIssuer || p.TrustedMaterial != nil || p.PublicKey != nil {
					t.Errorf("got %+v, %v", p, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("err %v, want one naming %q", err, tt.errHas)
			}
		})
	}
}
