package meta

import (
	"regexp"
	"runtime/debug"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// Version and Commit identify this build of occ. Releases set both from the
// release tag with -ldflags "-X github.com/opencode-cloud/occ/pkg/meta.Version=…
// -X github.com/opencode-cloud/occ/pkg/meta.Commit=…" (the Makefile and
// .goreleaser.yaml). A build that did not set Commit takes both from the Go
// build information instead (see fromBuildInfo): `go install …@v1.2.3`
// reports 1.2.3, and a `go build` in a git checkout reports the checkout's
// commit.
//
// The default Version is the release this source tree is: bump it together
// with CHANGELOG.md when cutting a release (TestChangelogMatchesVersion).
var (
	Version = "0.1.0"
	Commit  = ""
)

// unknownCommit is Commit when neither -ldflags nor the build information
// name one (a `go install …@vX` from the module proxy: module zips carry no
// VCS metadata).
const unknownCommit = "unknown"

func init() {
	if bi, ok := debug.ReadBuildInfo(); ok {
		Version, Commit = fromBuildInfo(Version, Commit, bi)
	}
}

// fromBuildInfo returns the version and commit to report when -ldflags set
// commit (then both are kept as they are) or not (then bi decides):
//   - a release module version (go install …@v1.2.3, or go build in a clean
//     checkout of tag v1.2.3 with Go ≥ 1.24) becomes the version;
//   - a pseudo-version (go install …@main) keeps version (the release the
//     source says it is) and names the commit it encodes;
//   - vcs.revision (go build in a git checkout) names the commit, with
//     "-dirty" when the tree had local changes.
func fromBuildInfo(version, commit string, bi *debug.BuildInfo) (string, string) {
	if commit != "" {
		return version, commit
	}
	commit = unknownCommit
	mv := bi.Main.Version
	base, _, _ := strings.Cut(mv, "+") // "+dirty", "+incompatible"
	switch {
	case mv == "" || mv == "(devel)" || !semver.IsValid(base):
	case module.IsPseudoVersion(base):
		if rev, err := module.PseudoVersionRev(base); err == nil {
			commit = rev
		}
	case mv == base:
		version = strings.TrimPrefix(base, "v")
	}
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		commit = rev
		if modified {
			commit += "-dirty"
		}
	}
	return version, commit
}

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
