//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
)

// TestConfigGetUsers: on a fresh installation (no config file) occ config
// get users prints upstream's "(none)", and the names once occ user add
// recorded them.
func TestConfigGetUsers(t *testing.T) {
	tb := testutil.RequireTestbed(t)
	// A namespace of its own: no other test's sandbox is found running
	// (user add would apply the user to it).
	in := testutil.NewInstall(t, "", "CONTAINERD_ADDRESS="+tb.Containerd, "CONTAINERD_NAMESPACE=occ-config-users-test")
	ctx := context.Background()
	run := func(stdin string, args ...string) testutil.Result {
		t.Helper()
		r := testutil.Run(ctx, t, testutil.OccBinary(t), in.Env, stdin, time.Minute, args...)
		if r.Code != 0 {
			t.Fatalf("occ %s: %s", strings.Join(args, " "), r)
		}
		return r
	}
	getUsers := func(what, want string, wantJSON []string) {
		t.Helper()
		if r := run("", "config", "get", "users"); r.Stdout != want+"\n" {
			t.Errorf("%s: config get users = %q, want %q", what, r.Stdout, want+"\n")
		}
		r := run("", "config", "get", "users", "--json")
		var js struct {
			Key   string   `json:"key"`
			Value []string `json:"value"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &js); err != nil || js.Key != "users" || !slices.Equal(js.Value, wantJSON) || js.Value == nil {
			t.Errorf("%s: config get users --json = %s (%v), want the list %q", what, r.Stdout, err, wantJSON)
		}
	}

	getUsers("fresh install", meta.NoneValue, []string{})
	if _, err := os.Stat(in.Paths.ConfigFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("config get wrote a config file: %v", err)
	}
	run("pw-of-erin-1\n", "user", "add", "erin")
	getUsers("after user add erin", "erin", []string{"erin"})
	run("pw-of-finn-1\n", "user", "add", "finn")
	getUsers("after user add finn", "erin,finn", []string{"erin", "finn"})
}
