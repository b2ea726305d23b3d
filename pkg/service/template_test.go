package service

import (
	"os"
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// The packages' template unit (packaging/opencode-cloud@.service) has the
// directives `occ install` writes for a system unit with the default config,
// but for the instance's user (User=%i). Render refuses "%i" as a user
// name (User= takes no quoting), so a valid stand-in is rendered and
// replaced.
func TestPackagedTemplateUnitMatchesRender(t *testing.T) {
	data, err := os.ReadFile("../../packaging/opencode-cloud@.service")
	if err != nil {
		t.Fatal(err)
	}
	d := meta.DefaultConfig()
	want, err := Render(Options{Mode: ModeSystem, Executable: "/usr/bin/occ", User: "occ-instance-user",
		AutoRestart: d.AutoRestart, RestartDelay: d.RestartDelay, RestartRetries: d.RestartRetries, StopTimeout: 30})
	if err != nil {
		t.Fatal(err)
	}
	directives := func(unit string) []string {
		var out []string
		for _, l := range strings.Split(unit, "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "Description=") {
				continue
			}
			out = append(out, strings.ReplaceAll(l, "occ-instance-user", "%i"))
		}
		return out
	}
	got, exp := directives(string(data)), directives(want)
	if strings.Join(got, "\n") != strings.Join(exp, "\n") {
		t.Errorf("packaging/opencode-cloud@.service:\n%s\nwant (occ install's system unit, User=%%i):\n%s", strings.Join(got, "\n"), strings.Join(exp, "\n"))
	}
}
