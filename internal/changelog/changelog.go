// Package changelog reads CHANGELOG.md in the Keep a Changelog form
// (https://keepachangelog.com/en/1.1.0/): "## [Unreleased]", then one
// "## [X.Y.Z] - YYYY-MM-DD" section per release, newest first. The release
// workflow takes its notes from here and checks the tag against it.
package changelog

import (
	"bufio"
	"fmt"
	"regexp"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// Release is one "## [version] - date" section.
type Release struct {
	Version string // without a leading "v"
	Date    time.Time
	Notes   string // the section's body, trimmed
}

// Changelog is the parsed file: Unreleased's body and the releases, newest first.
type Changelog struct {
	Unreleased string
	Releases   []Release
}

var heading = regexp.MustCompile(`^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?\s*$`)

// Parse reads a changelog. Every "## " heading must be "[Unreleased]" (first,
// without a date) or "[X.Y.Z] - YYYY-MM-DD" with a semver version; releases
// must be newest first and appear once.
func Parse(text string) (*Changelog, error) {
	c := &Changelog{}
	var body *strings.Builder
	var bodies []*strings.Builder
	seenUnreleased := false
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if !strings.HasPrefix(line, "## ") {
			if body != nil {
				// Link reference definitions ("[0.1.0]: https://…") close the last section.
				if strings.HasPrefix(line, "[") && strings.Contains(line, "]: ") {
					body = nil
					continue
				}
				body.WriteString(line + "\n")
			}
			continue
		}
		m := heading.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d: %q is not \"## [Unreleased]\" or \"## [X.Y.Z] - YYYY-MM-DD\"", n, line)
		}
		if m[1] == "Unreleased" {
			if seenUnreleased || len(c.Releases) > 0 || m[2] != "" {
				return nil, fmt.Errorf("line %d: [Unreleased] must come once, first, without a date", n)
			}
			seenUnreleased = true
			body = &strings.Builder{}
			bodies = append(bodies, body)
			continue
		}
		v := strings.TrimPrefix(m[1], "v")
		if !semver.IsValid("v"+v) || semver.Canonical("v"+v) != "v"+v {
			return nil, fmt.Errorf("line %d: %q is not a semantic version (MAJOR.MINOR.PATCH)", n, m[1])
		}
		if m[2] == "" {
			return nil, fmt.Errorf("line %d: release %s has no date (## [%s] - YYYY-MM-DD)", n, v, v)
		}
		d, err := time.Parse(time.DateOnly, m[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: release %s: %w", n, v, err)
		}
		for _, r := range c.Releases {
			if r.Version == v {
				return nil, fmt.Errorf("line %d: release %s appears twice", n, v)
			}
		}
		if k := len(c.Releases); k > 0 && semver.Compare("v"+v, "v"+c.Releases[k-1].Version) >= 0 {
			return nil, fmt.Errorf("line %d: release %s comes after %s: releases go newest first", n, v, c.Releases[k-1].Version)
		}
		c.Releases = append(c.Releases, Release{Version: v, Date: d})
		body = &strings.Builder{}
		bodies = append(bodies, body)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	off := 0
	if seenUnreleased {
		c.Unreleased = strings.TrimSpace(bodies[0].String())
		off = 1
	}
	for i := range c.Releases {
		c.Releases[i].Notes = strings.TrimSpace(bodies[i+off].String())
	}
	return c, nil
}

// Latest is the newest release, or nil.
func (c *Changelog) Latest() *Release {
	if len(c.Releases) == 0 {
		return nil
	}
	return &c.Releases[0]
}

// Find returns the release for version ("1.2.3" or "v1.2.3").
func (c *Changelog) Find(version string) (*Release, error) {
	v := strings.TrimPrefix(version, "v")
	for i := range c.Releases {
		if c.Releases[i].Version == v {
			return &c.Releases[i], nil
		}
	}
	return nil, fmt.Errorf("CHANGELOG.md has no section \"## [%s] - YYYY-MM-DD\": move the Unreleased entries under it before tagging v%s", v, v)
}

// CheckTag says whether tag ("v1.2.3") may be released: it must be a
// v-prefixed semantic version and the changelog's newest release.
func (c *Changelog) CheckTag(tag string) error {
	if !strings.HasPrefix(tag, "v") || !semver.IsValid(tag) || semver.Canonical(tag) != tag {
		return fmt.Errorf("tag %q is not vMAJOR.MINOR.PATCH (semver, with a leading v)", tag)
	}
	r, err := c.Find(tag)
	if err != nil {
		return err
	}
	if latest := c.Latest(); latest.Version != r.Version {
		return fmt.Errorf("tag %s is not CHANGELOG.md's newest release (%s)", tag, latest.Version)
	}
	if r.Notes == "" {
		return fmt.Errorf("CHANGELOG.md's section for %s is empty", r.Version)
	}
	return nil
}
