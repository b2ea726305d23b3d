package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// ShortDigest is a digest cut to "sha256:" and its first 12 hex digits.
func ShortDigest(d digest.Digest) string {
	s := d.String()
	if len(s) > 19 {
		return s[:19]
	}
	return s
}

// HumanBytes prints a size with one decimal and binary units (1.5 GiB).
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

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
		fmt.Fprintf(&b, ", bundle %s", ShortDigest(digest.Digest(v.BundleDigest)))
	}
	return b.String()
}

func shortID(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}
