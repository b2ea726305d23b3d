//go:build integration

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// TestCommandsImageBuildNoCache: the no-cache build that
// `occ start --full-rebuild-sandbox-image` runs (build.Options.NoCache),
// through the real binary on a small context, so that it is cheap enough
// to run in full on every CI run (the e2e test rebuilds the real sandbox
// with the cache): every step runs again, and the image records a full
// build.
func TestCommandsImageBuildNoCache(t *testing.T) {
	e := rtTestbed(t)
	f := newCmdFixture(t, nil)
	dir := t.TempDir()
	// occ labels its builds with its version (and checks the label).
	dockerfile := "FROM " + e.registry + "/test/busybox:latest\nARG OCC_VERSION\n" +
		"LABEL org.opencode-cloud.version=\"${OCC_VERSION}\"\nRUN echo built > /stamp\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(args ...string) occResult {
		t.Helper()
		return f.mustOK(append([]string{"image", "build", "--progress", "plain", "--context", dir}, args...)...)
	}
	inspect := func() meta.Provenance {
		t.Helper()
		r := f.mustOK("image", "inspect", "--json")
		var out struct {
			Provenance *meta.Provenance `json:"provenance"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Provenance == nil {
			t.Fatalf("image inspect --json: %v\n%s", err, r)
		}
		return *out.Provenance
	}

	build() // warms BuildKit's cache
	r := build()
	if !runCached(t, r.stderr) {
		t.Errorf("a second cached build ran its RUN step again:\n%s", r.stderr)
	}
	if p := inspect(); p.Source != meta.SourceBuild || p.Build == nil || p.Build.NoCache {
		t.Errorf("cached build: provenance %+v, want a build with no_cache false", p)
	}

	r = build("--no-cache")
	if runCached(t, r.stderr) {
		t.Errorf("a --no-cache build reused BuildKit's cache or did not run the RUN step:\n%s", r.stderr)
	}
	if p := inspect(); p.Source != meta.SourceBuild || p.Build == nil || !p.Build.NoCache || p.Build.BuildkitVersion == "" {
		t.Errorf("--no-cache build: provenance %+v, want a build with no_cache true and BuildKit's version", p)
	}
}

// runCached reports whether BuildKit's plain progress shows the RUN step
// as taken from its cache ("#N CACHED" for the RUN's vertex N).
func runCached(t *testing.T, progress string) bool {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*#(\d+) \[2/2\] RUN echo built > /stamp$`).FindStringSubmatch(progress)
	if m == nil {
		t.Fatalf("no RUN step in the build's progress:\n%s", progress)
	}
	return regexp.MustCompile(`(?m)^\s*#` + m[1] + ` CACHED$`).MatchString(progress)
}
