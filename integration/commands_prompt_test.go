//go:build integration

package integration

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// occOnTTY runs occ on a pseudo-terminal (util-linux script), typing input.
func (f *cmdFixture) occOnTTY(input string, args ...string) (string, int) {
	f.t.Helper()
	if _, err := exec.LookPath("script"); err != nil {
		f.t.Skip("script (util-linux) is not installed")
	}
	quoted := []string{f.bin}
	for _, a := range args {
		quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	cmd := exec.CommandContext(f.ctx, "script", "-qefc", strings.Join(quoted, " "), "/dev/null")
	cmd.Env = f.env
	// A pipe (not a Reader) so exec starts no copying goroutine that would
	// keep Wait waiting; the input is typed once occ has started.
	pr, pw, err := os.Pipe()
	if err != nil {
		f.t.Fatal(err)
	}
	defer pw.Close()
	cmd.Stdin = pr
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		f.t.Fatalf("script: %v", err)
	}
	pr.Close()
	time.Sleep(time.Second)
	if _, err := io.WriteString(pw, input); err != nil {
		f.t.Fatal(err)
	}
	err = cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatalf("script: %v", err)
	}
	return out.String(), code
}

// TestCommandsStartPrompts answers start's prompts on a terminal: the
// first-run image-source choice is saved to the config; a failed pull
// offers a build.
func TestCommandsStartPrompts(t *testing.T) {
	f := newCmdFixture(t, func(c *meta.Config) {
		c.BuildkitAddr = "unix:///nonexistent/occ-test/buildkitd.sock"
	})
	// Choose "Build from source": saved, then the build fails (no BuildKit).
	out, code := f.occOnTTY("2\n", "start")
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
	out, code = f.occOnTTY("1\nn\n", "start")
	if code == 0 {
		t.Fatalf("start succeeded with an unreachable registry:\n%s", out)
	}
	wantContains(t, "pull failure prompt", out, "Build from source instead? (This takes 30-60 minutes)")
}
