package runtime

import (
	"strings"
	"testing"
)

func TestDiffEnv(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want []string
		diff      string
	}{
		{"same", []string{"A=1", "B=2"}, []string{"B=2", "A=1"}, ""},
		{"both empty", nil, nil, ""},
		{"value changed", []string{"API_KEY=old"}, []string{"API_KEY=new"}, "environment: API_KEY changed"},
		{"added", []string{"A=1"}, []string{"A=1", "NEW_KEY=x"}, "environment: NEW_KEY added"},
		{"removed", []string{"A=1", "OLD_KEY=x"}, []string{"A=1"}, "environment: OLD_KEY removed"},
		{"emptied is a change", []string{"A=1"}, []string{"A="}, "environment: A changed"},
		{"all three, sorted", []string{"Z=1", "C=1", "R=1", "B=1"}, []string{"C=2", "B=2", "N=1", "M=1"},
			"environment: M, N added; B, C changed; R, Z removed"},
		{"last entry wins", []string{"A=1", "A=2"}, []string{"A=2"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := diffEnv(tc.got, tc.want); got != tc.diff {
				t.Errorf("diffEnv = %q, want %q", got, tc.diff)
			}
		})
	}
}

// TestDiffEnvNamesNoValues: a difference names the variables, never their
// values (container_env holds API keys).
func TestDiffEnvNamesNoValues(t *testing.T) {
	d := diffEnv([]string{"OPENAI_API_KEY=sk-old-secret"}, []string{"OPENAI_API_KEY=sk-new-secret", "ANTHROPIC_API_KEY=sk-ant-secret"})
	for _, secret := range []string{"sk-old-secret", "sk-new-secret", "sk-ant-secret"} {
		if strings.Contains(d, secret) {
			t.Errorf("the difference shows a value: %q", d)
		}
	}
}

// TestWithoutDerived: the variables occ derives from settings compared on
// their own are left out of the environment comparison.
func TestWithoutDerived(t *testing.T) {
	got := withoutDerived([]string{"OPENCODE_PORT=1", "API_KEY=x", EnvHostMounts + "=/mnt", "OPENCODE_HOST=0.0.0.0", EnvLoginAttempts + "=5"})
	if want := []string{"API_KEY=x", EnvLoginAttempts + "=5"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("withoutDerived = %v, want %v", got, want)
	}
}
