package ui

import (
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/trust"
)

// DescribeVerification is one line about a verified signature.
func DescribeVerification(v *meta.Verification) string { return trust.Describe(v) }
