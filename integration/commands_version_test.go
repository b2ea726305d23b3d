//go:build integration

package integration

import (
	"fmt"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// pushVersionedApp publishes the test app with an org.opencode-cloud.version
// label under tag, and returns the tag.
func pushVersionedApp(t *testing.T, version string) string {
	t.Helper()
	tag := "v" + version
	pushAppVariant(t, fmt.Sprintf("%s/test/runtime-app:%s", rtTestbed(t).registry, tag), func(c *v1.Config) {
		c.Labels[meta.ImageVersionLabel] = version
	})
	return tag
}

// TestCommandsStartVersionCheck: an image whose version differs from occ's
// is warned about (at most hourly) off a terminal, never with
// update_check never or --ignore-version, and with update_check once the
// answer given on a terminal is remembered for that image.
func TestCommandsStartVersionCheck(t *testing.T) {
	const other = "9.9.9"
	tag := pushVersionedApp(t, other)
	f := newCmdFixture(t, func(c *meta.Config) { c.ImageTag = tag })
	warning := "the sandbox image is v" + other + " but occ is v" + meta.Version

	r := f.mustOK("start") // pulls: a fresh image is not checked
	if strings.Contains(r.stderr, warning) {
		t.Errorf("a just-pulled image was version-checked: %s", r)
	}
	f.mustOK("stop")
	r = f.mustOK("start")
	wantContains(t, "start with a mismatched image", r.stderr, warning)
	f.mustOK("stop")
	if r := f.mustOK("start"); strings.Contains(r.stderr, warning) {
		t.Errorf("the mismatch warning came again within the hour: %s", r)
	}
	f.mustOK("stop")

	// update_check once, on a terminal: asked once, the answer remembered.
	f.cfg.UpdateCheck = meta.UpdateCheckOnce
	f.saveConfig()
	out, code := f.occOnTTY("3\n", "start")
	if code != 0 {
		t.Fatalf("start (once, continue): %d\n%s", code, out)
	}
	wantContains(t, "once: first start", out, "version mismatch: the sandbox image is v"+other, "Continue with mismatched versions")
	f.mustOK("stop")
	out, code = f.occOnTTY("", "start")
	if code != 0 || strings.Contains(out, "version mismatch") {
		t.Errorf("once: asked again for the same image: %d\n%s", code, out)
	}
	mem := meta.LoadUpdateCheck(f.paths.UpdateCheckFile())
	if a, ok := mem.Answer(meta.Version, ""); ok {
		t.Errorf("answer recorded without a digest: %v", a)
	}
	if len(mem.Answers) != 1 || mem.Answers[0].Answer != meta.UpdateAnswerContinue || !strings.HasPrefix(mem.Answers[0].ImageDigest, "sha256:") {
		t.Errorf("remembered answers: %+v", mem.Answers)
	}
	f.mustOK("stop")

	// always, on a terminal, but skipped by --ignore-version and by never.
	f.cfg.UpdateCheck = meta.UpdateCheckAlways
	f.saveConfig()
	if out, code := f.occOnTTY("", "start", "--ignore-version"); code != 0 || strings.Contains(out, "version mismatch") {
		t.Errorf("--ignore-version still checked: %d\n%s", code, out)
	}
	f.mustOK("stop")
	f.cfg.UpdateCheck = meta.UpdateCheckNever
	f.saveConfig()
	if out, code := f.occOnTTY("", "start"); code != 0 || strings.Contains(out, "version mismatch") {
		t.Errorf("update_check never still checked: %d\n%s", code, out)
	}
}
