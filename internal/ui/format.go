package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/ops"
)

// DescribeVerification is one line about a verified signature.
func DescribeVerification(v *meta.Verification) string {
	var b strings.Builder
	switch v.Method {
	case meta.VerifyKey:
		fmt.Fprintf(&b, "key %s", shortID(v.Identity))
	default:
		fmt.Fprintf(&b, "%s (issuer %s)", v.Identity, v.Issuer)
	}
	if !v.SignedAt.IsZero() {
		fmt.Fprintf(&b, ", signed %s", v.SignedAt.UTC().Format(time.RFC3339))
	}
	if v.BundleDigest != "" {
		fmt.Fprintf(&b, ", bundle %s", ops.ShortDigest(digest.Digest(v.BundleDigest)))
	}
	return b.String()
}

func shortID(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}
