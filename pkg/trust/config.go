package trust

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// PolicyFromConfig is the policy the config describes: a public key
// (image_verify_key), or the keyless issuer and identity against
// image_verify_trusted_root, else trustedRootFile (the root `occ image
// trust-root --refresh` fetched) when it exists, else the root embedded
// in occ. With image_verify off only the issuer and identity are set.
func PolicyFromConfig(cfg *meta.Config, trustedRootFile string) (Policy, error) {
	p := Policy{Issuer: cfg.ImageVerifyIssuer, Identity: cfg.ImageVerifyIdentity}
	if cfg.ImageVerify == meta.VerifyOff {
		return p, nil
	}
	switch {
	case cfg.ImageVerifyKey != "":
		k, err := LoadPublicKey(cfg.ImageVerifyKey)
		if err != nil {
			return p, fmt.Errorf("image_verify_key: %w (fix the file, or `occ config set image_verify_key \"\"` to verify by identity)", err)
		}
		p.PublicKey = k
	case cfg.ImageVerifyRoot != "":
		tr, err := LoadTrustedRoot(cfg.ImageVerifyRoot)
		if err != nil {
			return p, fmt.Errorf("image_verify_trusted_root: %w (fix the file, or `occ config set image_verify_trusted_root \"\"` to use the root embedded in occ)", err)
		}
		p.TrustedMaterial = tr
	case trustedRootFile != "" && exists(trustedRootFile):
		tr, err := LoadTrustedRoot(trustedRootFile)
		if err != nil {
			return p, fmt.Errorf("%w (refresh it with `occ image trust-root --refresh`, or delete it to use the root embedded in occ)", err)
		}
		p.TrustedMaterial = tr
	}
	return p, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Describe is one line about a verified signature: the signer (a key's
// fingerprint, or the identity and issuer), when it was signed, and the
// bundle that verified.
func Describe(v *meta.Verification) string {
	var b strings.Builder
	switch v.Method {
	case meta.VerifyKey:
		fmt.Fprintf(&b, "key %s", prefix(v.Identity, 16))
	default:
		fmt.Fprintf(&b, "%s (issuer %s)", v.Identity, v.Issuer)
	}
	if !v.SignedAt.IsZero() {
		fmt.Fprintf(&b, ", signed %s", v.SignedAt.UTC().Format(time.RFC3339))
	}
	if v.BundleDigest != "" {
		fmt.Fprintf(&b, ", bundle %s", prefix(v.BundleDigest, 19))
	}
	return b.String()
}

// prefix is s cut to at most n bytes.
func prefix(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
