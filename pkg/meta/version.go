package meta

import (
	"regexp"
	"strings"
)

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

// pseudoVersionRe matches a Go pseudo-version's tail (-yyyymmddhhmmss-abcdefabcdef).
var pseudoVersionRe = regexp.MustCompile(`[-.]\d{14}-[0-9a-f]{12}$`)

// IsDevBuild says whether this occ is a development build rather than a
// release: a version of "", "dev" or "(devel)", a Go pseudo-version, or one
// with build metadata ("+dirty") or a "-dev" suffix.
func IsDevBuild() bool {
	v := strings.TrimSpace(Version)
	switch v {
	case "", "dev", "(devel)":
		return true
	}
	return strings.Contains(v, "+") || strings.HasSuffix(v, "-dev") || pseudoVersionRe.MatchString(v)
}

// SandboxTag is the sandbox image tag this occ pulls by default: its own
// version without a leading "v" for a release (occ v0.1.0 pulls
// occ-sandbox:0.1.0, published by the same release), and "latest" (the
// newest release's sandbox) for a development build.
func SandboxTag() string {
	if IsDevBuild() {
		return "latest"
	}
	return strings.TrimPrefix(strings.TrimSpace(Version), "v")
}
