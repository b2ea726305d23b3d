package ops

import (
	"context"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// TestUserOps runs the user operations on records in a temporary data
// directory, with containerd unreachable: every change is recorded, kept
// in step with the config, and said to take effect at the next start.
func TestUserOps(t *testing.T) {
	ctx := context.Background()
	te := newTestEnv(t, nil)
	te.prompt.secrets = []string{"correct horse battery staple"}
	if _, err := te.UserAdd(ctx, "alice", PasswordOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(te.report.String(), "adding alice takes effect when it next starts") {
		t.Errorf("report %q", te.report.String())
	}
	var shown string
	res, err := te.UserAdd(ctx, "bob", PasswordOptions{Generate: true, Show: func(_, pw string) { shown = pw }})
	if err != nil || !res.Generated || len(shown) != defaultPasswordLength {
		t.Fatalf("generated: %+v %v %q", res, err, shown)
	}
	if _, err := te.UserAdd(ctx, "bob", PasswordOptions{Generate: true}); !errdefs.IsAlreadyExists(err) {
		t.Errorf("adding bob twice: %v", err)
	}
	if res, err := te.UserSetLocked(ctx, "bob", true); err != nil || !res.Changed {
		t.Fatalf("disable: %+v %v", res, err)
	}
	if res, err := te.UserSetLocked(ctx, "bob", true); err != nil || res.Changed {
		t.Fatalf("disable again: %+v %v", res, err)
	}
	users, err := te.UserList(ctx)
	if err != nil || len(users) != 2 || users[0] != (UserInfo{Username: "alice", Enabled: true}) || users[1] != (UserInfo{Username: "bob"}) {
		t.Fatalf("list: %+v %v", users, err)
	}
	cfg, _ := te.LoadConfig()
	if strings.Join(cfg.Users, ",") != "alice,bob" {
		t.Errorf("config users %v", cfg.Users)
	}
	// Removing asks; off a terminal that is an error naming --force.
	if _, err := te.UserRemove(ctx, "bob", false); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "--force") {
		t.Errorf("remove without a terminal: %v", err)
	}
	if _, err := te.UserRemove(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	if _, err := te.UserRemove(ctx, "alice", false); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "last user") {
		t.Errorf("removing the last user: %v", err)
	}
	if res, err := te.UserRemove(ctx, "alice", true); err != nil || !res.NoUsersLeft {
		t.Errorf("forced: %+v %v", res, err)
	}
	if _, err := te.UserPasswd(ctx, "alice", PasswordOptions{Generate: true}); !errdefs.IsNotFound(err) {
		t.Errorf("passwd of a removed user: %v", err)
	}
	cfg, _ = te.LoadConfig()
	if len(cfg.Users) != 0 {
		t.Errorf("config users %v", cfg.Users)
	}
}

// TestUserAddName: no name asks for one on a terminal (default admin) and
// is an error that says how off one; bad and reserved names are refused
// before the lock is taken.
func TestUserAddName(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, arg string
		tty       bool
		lines     []string
		want      string
		err       func(error) bool
	}{
		{"default", "", true, nil, "admin", nil},
		{"typed", "", true, []string{"carol"}, "carol", nil},
		{"no terminal", "", false, nil, "", errdefs.IsInvalidArgument},
		{"reserved", "root", true, nil, "", errdefs.IsInvalidArgument},
		{"invalid", "Bad Name", true, nil, "", errdefs.IsInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t, meta.DefaultConfig())
			te.prompt.tty, te.prompt.lines = tc.tty, tc.lines
			res, err := te.UserAdd(ctx, tc.arg, PasswordOptions{Generate: true})
			if tc.err != nil {
				if !tc.err(err) || te.locks != 0 {
					t.Fatalf("error %v, locks %d", err, te.locks)
				}
				return
			}
			if err != nil || res.Username != tc.want {
				t.Fatalf("%+v %v", res, err)
			}
		})
	}
}
