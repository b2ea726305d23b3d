package meta

import (
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
