package changelog

import (
	"os"
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/pkg/meta"
)

const sample = `# Changelog

Intro.

## [Unreleased]

### Added
- next thing

## [1.1.0] - 2026-12-24

### Fixed
- a bug

## [1.0.0] - 2026-12-03

### Added
- everything

[Unreleased]: https://example.com/compare/v1.1.0...HEAD
[1.1.0]: https://example.com/v1.1.0
`

func TestParse(t *testing.T) {
	c, err := Parse(sample)
	if err != nil {
		t.Fatal(err)
	}
	if c.Unreleased != "### Added\n- next thing" {
		t.Errorf("Unreleased = %q", c.Unreleased)
	}
	if len(c.Releases) != 2 || c.Latest().Version != "1.1.0" || c.Releases[1].Version != "1.0.0" {
		t.Fatalf("releases = %+v", c.Releases)
	}
	if c.Releases[0].Notes != "### Fixed\n- a bug" || c.Releases[1].Notes != "### Added\n- everything" {
		t.Errorf("notes = %q, %q", c.Releases[0].Notes, c.Releases[1].Notes)
	}
	if d := c.Releases[1].Date.Format("2006-01-02"); d != "2026-12-03" {
		t.Errorf("date = %s", d)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"bad heading", "## Unreleased\n", "is not"},
		{"no date", "## [1.0.0]\n", "has no date"},
		{"bad date", "## [1.0.0] - 2026-13-01\n", "release 1.0.0"},
		{"not semver", "## [1.0] - 2026-12-03\n", "not a semantic version"},
		{"unreleased after a release", "## [1.0.0] - 2026-12-03\n## [Unreleased]\n", "first"},
		{"unreleased twice", "## [Unreleased]\n## [Unreleased]\n", "once"},
		{"oldest first", "## [1.0.0] - 2026-12-03\n## [1.1.0] - 2026-12-24\n", "newest first"},
		{"twice", "## [1.0.0] - 2026-12-03\n## [1.0.0] - 2026-12-03\n", "appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) = %v, want an error with %q", tt.text, err, tt.want)
			}
		})
	}
}

func TestCheckTag(t *testing.T) {
	c, err := Parse(sample + "## [0.9.0] - 2026-11-01\n")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ tag, want string }{
		{"v1.1.0", ""},
		{"1.1.0", "leading v"},
		{"v1.1", "leading v"},
		{"v1.0.0", "not CHANGELOG.md's newest"},
		{"v1.2.0", "no section"},
		{"v0.9.0", "not CHANGELOG.md's newest"},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			err := c.CheckTag(tt.tag)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("CheckTag(%q) = %v, want %q", tt.tag, err, tt.want)
			}
		})
	}
	empty, err := Parse("## [1.0.0] - 2026-12-03\n\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := empty.CheckTag("v1.0.0"); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("an empty section was accepted: %v", err)
	}
}

// The repository's CHANGELOG.md parses, and its newest release is the
// version pkg/meta/version.go says this tree is (bump both together).
func TestChangelogMatchesVersion(t *testing.T) {
	data, err := os.ReadFile("../../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(string(data))
	if err != nil {
		t.Fatalf("CHANGELOG.md: %v", err)
	}
	if l := c.Latest(); l == nil || l.Version != meta.Version {
		t.Errorf("CHANGELOG.md's newest release is %+v, pkg/meta.Version is %s: bump them together", l, meta.Version)
	}
	if err := c.CheckTag("v" + meta.Version); err != nil {
		t.Error(err)
	}
}
