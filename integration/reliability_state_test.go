//go:build integration

package integration

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// occStdin runs occ with input on its stdin (no terminal).
func (f *cmdFixture) occStdin(input string, args ...string) occResult {
	f.t.Helper()
	cmd := f.command(args...)
	cmd.Stdin = strings.NewReader(input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatalf("run occ %v: %v", args, err)
	}
	return occResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// TestCommandsStartImageFlagKeepsPrevious: `occ start --pull-sandbox-image`
// replaces the current image the way `occ update` does: the image it
// replaces is kept as previous (record and state), and the same image
// again changes nothing.
func TestCommandsStartImageFlagKeepsPrevious(t *testing.T) {
	e := rtTestbed(t)
	repo := e.registry + "/test/start-previous"
	d1 := pushAppVariant(t, repo+":latest", func(c *v1.Config) { c.Env = append(c.Env, "RELEASE=1") })
	f := newCmdFixture(t, func(c *meta.Config) { c.ImageRepositories = []string{repo} })
	f.mustOK("start")
	if v := f.updateView(); v.current != d1 || v.previous != "" {
		t.Fatalf("after the first start: %+v", v)
	}

	d2 := pushAppVariant(t, repo+":latest", func(c *v1.Config) { c.Env = append(c.Env, "RELEASE=2") })
	r := f.mustOK("start", "--pull-sandbox-image", "--yes")
	wantContains(t, "start --pull-sandbox-image", r.stderr, "kept as previous", "occ update --rollback")
	if v := f.updateView(); v.current != d2 || v.previous != d1 || v.container != d2 {
		t.Errorf("after start --pull-sandbox-image: %+v, want current %s previous %s", v, d2, d1)
	}
	if st := f.state(); st.ManifestDigest != d2 || st.Previous == nil || st.Previous.ManifestDigest != d1 {
		t.Errorf("state after start --pull-sandbox-image: %+v (previous %+v)", st, st.Previous)
	}

	// The same image again: up to date, previous untouched.
	before := f.updateView()
	r = f.mustOK("start", "--pull-sandbox-image", "--yes")
	wantContains(t, "the same image again", r.stderr, "is up to date", "previous is unchanged")
	if v := f.updateView(); v.current != before.current || v.previous != before.previous || !bytes.Equal(v.state, before.state) {
		t.Errorf("pulling the current image again changed something: %+v, want %+v", v, before)
	}

	// What was kept is what a rollback goes back to.
	f.mustOK("update", "--rollback", "--yes")
	if v := f.updateView(); v.current != d1 || v.previous != d2 || v.container != d1 {
		t.Errorf("after the rollback: %+v", v)
	}
}

// TestCommandsRestartEnvChange: a container_env change (added, new value,
// removed) makes restart recreate the container, after the confirmation
// (--yes off a terminal); the difference names the variable, never its
// value. Without a change restart asks nothing.
func TestCommandsRestartEnvChange(t *testing.T) {
	f := newCmdFixture(t, nil)
	f.importImage(meta.Provenance{Source: meta.SourcePrebuilt, ImageVersion: meta.Version})
	f.startSandbox()
	const key = "OCC_TEST_API_TOKEN"
	specEnv := func() map[string]string {
		t.Helper()
		nctx := f.client.WithNamespace(f.ctx)
		c, err := ctrd(t, f.client).LoadContainer(nctx, meta.ContainerName)
		if err != nil {
			t.Fatal(err)
		}
		sp, err := c.Spec(nctx)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, kv := range sp.Process.Env {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		return m
	}
	for _, step := range []struct {
		change   []string // occ args
		input    string
		diff     string
		want     string // the value in the spec after restart --yes; "" : unset
		secretOf string
	}{
		{[]string{"config", "env", "set", key}, "first-secret-value\n", key + " added", "first-secret-value", "first-secret-value"},
		{[]string{"config", "env", "set", key}, "second-secret-value\n", key + " changed", "second-secret-value", "second-secret-value"},
		{[]string{"config", "env", "remove", key}, "", key + " removed", "", "second-secret-value"},
	} {
		if r := f.occStdin(step.input, step.change...); r.code != 0 {
			t.Fatalf("occ %v: %s", step.change, r)
		}
		r := f.occ("restart")
		if r.code == 0 || !strings.Contains(r.stderr, "environment: "+step.diff) || !strings.Contains(r.stderr, "--yes") {
			t.Errorf("restart after %v off a terminal without --yes: %s", step.change, r)
		}
		if strings.Contains(r.stdout+r.stderr, step.secretOf) {
			t.Errorf("restart printed the value of %s: %s", key, r)
		}
		r = f.mustOK("restart", "--yes")
		wantContains(t, "restart --yes", r.stderr, "Recreating the container")
		got, ok := specEnv()[key]
		if step.want == "" && ok || step.want != "" && got != step.want {
			t.Errorf("after %v and restart --yes: %s=%q (set %v), want %q", step.change, key, got, ok, step.want)
		}
		// Nothing changed since: restart asks nothing.
		if r := f.occ("restart"); r.code != 0 || strings.Contains(r.stderr, "no longer matches") {
			t.Errorf("restart without a change: %s", r)
		}
	}
}
