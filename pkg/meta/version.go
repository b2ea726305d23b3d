package meta

import "strings"

// Version and Commit identify this build of occ. The Makefile sets both with
// -ldflags "-X github.com/opencode-cloud/occ/pkg/meta.Version=… -X …Commit=…".
var (
	Version = "0.1.0"
	Commit  = "unknown"
)

// VersionsMatch reports whether an image built for imageVersion is the one
// this CLI expects. Versions compare exactly, ignoring a leading "v" and
// surrounding space; an empty image version never matches.
func VersionsMatch(cliVersion, imageVersion string) bool {
	norm := func(s string) string { return strings.TrimPrefix(strings.TrimSpace(s), "v") }
	iv := norm(imageVersion)
	return iv != "" && norm(cliVersion) == iv
}
