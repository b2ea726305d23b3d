package ops

import (
	"testing"

	"github.com/opencode-cloud/occ/pkg/meta"
)

func TestUsersDirFollowsAMount(t *testing.T) {
	p := meta.Paths{DataDir: "/data"}
	cfg := meta.DefaultConfig()
	if got, want := UsersDir(cfg, p), "/data/volumes/opencode-users"; got != want {
		t.Fatalf("default: %s, want %s", got, want)
	}
	cfg.Mounts = []string{"/srv/ws:/home/opencoder/workspace", "/srv/users:/var/lib/opencode-users"}
	if got := UsersDir(cfg, p); got != "/srv/users" {
		t.Fatalf("with a mount: %s", got)
	}
}

func TestGeneratePasswordLength(t *testing.T) {
	tests := []struct {
		env     string
		wantLen int
		wantErr bool
	}{
		{"", 30, false}, {"12", 12, false}, {"128", 128, false}, {"11", 0, true}, {"129", 0, true}, {"x", 0, true},
	}
	for _, tc := range tests {
		t.Setenv("OPENCODE_PASSWORD_LENGTH", tc.env)
		pw, err := GeneratePassword()
		if (err != nil) != tc.wantErr || (!tc.wantErr && len(pw) != tc.wantLen) {
			t.Errorf("OPENCODE_PASSWORD_LENGTH=%q: %q %v", tc.env, pw, err)
		}
	}
	t.Setenv("OPENCODE_PASSWORD_LENGTH", "")
	a, errA := GeneratePassword()
	b, errB := GeneratePassword()
	if errA != nil || errB != nil || a == b {
		t.Fatal("two generated passwords are equal")
	}
}
