//go:build integration

package integration

import (
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// ttyAnswer is a dialog step: once Prompt shows on the screen, type Keys.
type ttyAnswer struct{ Prompt, Keys string }

// occOnTTY runs occ on a pseudo-terminal, answering its prompts in order,
// and returns everything it showed once it has exited.
func (f *cmdFixture) occOnTTY(dialog []ttyAnswer, args ...string) (string, int) {
	f.t.Helper()
	// A pseudo-terminal that answers the terminal queries a real terminal
	// answers (the TUI library occ links asks for the background colour and
	// the cursor position at start-up): see startPTY.
	p := startPTY(f.t, f.env, f.bin, args...)
	for _, d := range dialog {
		p.expect(d.Prompt)
		p.send(d.Keys)
	}
	code := p.wait()
	return strings.ReplaceAll(p.screen(), "\r\n", "\n"), code
}

// TestCommandsStartPrompts answers start's prompts on a terminal: the
// first-run image-source choice is saved to the config; a failed pull
// offers a build.
func TestCommandsStartPrompts(t *testing.T) {
	f := newCmdFixture(t, func(c *meta.Config) {
		c.BuildkitAddr = "unix:///nonexistent/occ-test/buildkitd.sock"
	})
	// Choose "Build from source": saved, then the build fails (no BuildKit).
	out, code := f.occOnTTY([]ttyAnswer{{"How would you like to get the sandbox image?", "2\n"}}, "start")
	if code == 0 {
		t.Fatalf("start succeeded without BuildKit:\n%s", out)
	}
	wantContains(t, "first-run prompt", out, "Sandbox Image Setup", "[1] Pull prebuilt image (~2 min)", "[2] Build from source (30-60 min)",
		"Saved image_source = build", "cannot reach BuildKit")
	cfg, _, err := meta.LoadConfig(f.paths.ConfigFile)
	if err != nil || cfg.ImageSource != meta.SourceBuild {
		t.Errorf("image_source after choosing build: %q %v", cfg.ImageSource, err)
	}

	// A pull that fails offers a build; declining ends with the pull error.
	f.cfg.ImageSource = meta.SourcePrebuilt
	f.cfg.ImageRepositories = []string{"127.0.0.1:1/nothing/here"}
	f.saveConfig()
	out, code = f.occOnTTY([]ttyAnswer{{"How would you like to get the sandbox image?", "1\n"}, {"Build from source instead?", "n\n"}}, "start")
	if code == 0 {
		t.Fatalf("start succeeded with an unreachable registry:\n%s", out)
	}
	wantContains(t, "pull failure prompt", out, "Build from source instead? (This takes 30-60 minutes)")
}
