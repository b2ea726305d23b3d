//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// TestCommandsPullThroughMirror: `occ image pull` reads certs.d beside
// its config file. The configured repository's registry does not exist
// (registry.invalid); its hosts.toml names the testbed registry as a
// mirror for pull and resolve, so the image comes from the mirror, as
// ctr and nerdctl would fetch it. Without the hosts.toml the same pull
// fails on the registry's name.
func TestCommandsPullThroughMirror(t *testing.T) {
	e := rtTestbed(t)
	rtAppImage(t, e) // pushed to the testbed registry as test/runtime-app:latest
	f := newCmdFixture(t, func(c *meta.Config) {
		c.ImageRepositories = []string{"registry.invalid/test/runtime-app"}
		c.InsecureRegistries = nil
	})
	start := time.Now()
	if r := f.occ("image", "pull"); r.code == 0 || !strings.Contains(r.stderr, "registry.invalid") {
		t.Fatalf("pull without certs.d: %s", r)
	}
	t.Logf("pull without certs.d failed in %s", time.Since(start).Round(time.Millisecond))
	hostsDir := filepath.Join(f.paths.ConfigDir(), "certs.d", "registry.invalid")
	if err := os.MkdirAll(hostsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	toml := "[host.\"http://" + e.registry + "\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
	if err := os.WriteFile(filepath.Join(hostsDir, "hosts.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	r := f.mustOK("-v", "image", "pull")
	t.Logf("pull through the mirror: %s\n%s", time.Since(start).Round(time.Millisecond), r.stderr)
	st := f.state()
	if st == nil || st.Provenance.ManifestDigest == "" {
		t.Fatalf("no image state after the pull through the mirror: %+v", st)
	}
}
