package ops

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// TestCheckUsers: no start without a login user unless
// allow_unauthenticated_network says so. Who can log in is the enabled
// user records, whatever the config's users list says.
func TestCheckUsers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		list    []string        // the config's users
		records map[string]bool // username -> locked
		allow   bool
		wantErr string // "" : allowed
	}{
		{name: "nothing", wantErr: "occ user add"},
		{name: "nothing, allowed", allow: true},
		{name: "listed without a record", list: []string{"alice"}, wantErr: "occ user add"},
		{name: "record after config reset", records: map[string]bool{"alice": false}},
		{name: "listed and recorded", list: []string{"alice"}, records: map[string]bool{"alice": false}},
		{name: "only disabled", list: []string{"alice", "bob"}, records: map[string]bool{"alice": true, "bob": true}, wantErr: "occ user enable alice"},
		{name: "one enabled of two", records: map[string]bool{"alice": true, "bob": false}},
		{name: "only disabled, allowed", records: map[string]bool{"alice": true}, allow: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paths := meta.Paths{ConfigFile: filepath.Join(t.TempDir(), "config.json"), DataDir: t.TempDir()}
			cfg := meta.DefaultConfig()
			cfg.Users, cfg.AllowUnauthenticatedNetwork = tc.list, tc.allow
			for name, locked := range tc.records {
				r, err := runtime.NewUserRecord(name, "correct horse battery")
				if err != nil {
					t.Fatal(err)
				}
				r.Locked = locked
				if err := runtime.WriteUserRecord(UsersDir(cfg, paths), r); err != nil {
					t.Fatal(err)
				}
			}
			err := CheckUsers(cfg, paths)
			if (err != nil) != (tc.wantErr != "") {
				t.Fatalf("got %v, want an error: %v", err, tc.wantErr != "")
			}
			if err != nil && (!errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "allow_unauthenticated_network")) {
				t.Errorf("refusal does not say what to do (%q): %v", tc.wantErr, err)
			}
		})
	}
	if meta.DefaultConfig().BindAddress != "127.0.0.1" {
		t.Errorf("default bind_address %q, want 127.0.0.1", meta.DefaultConfig().BindAddress)
	}
}

// TestWarnExposure: a loud warning (even with -q) for every bind address
// that is not loopback; none for loopback.
func TestWarnExposure(t *testing.T) {
	for addr, exposed := range map[string]bool{
		"127.0.0.1": false, "::1": false, "[::1]": false, "localhost": false, "127.0.0.2": false,
		"0.0.0.0": true, "::": true, "192.168.1.5": true, "10.0.0.1": true, "fe80::1": true, "2001:db8::1": true,
	} {
		var errb bytes.Buffer
		r := &fakeReport{w: &errb}
		paths := meta.Paths{DataDir: t.TempDir()}
		cfg := meta.DefaultConfig()
		cfg.BindAddress = addr
		WarnExposure(r, cfg, paths)
		got := errb.String()
		if exposed != strings.Contains(got, "WARNING: Network exposed with no login users") {
			t.Errorf("bind_address %s with no user record: %q", addr, got)
		}
		rec, err := runtime.NewUserRecord("alice", "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		if err := runtime.WriteUserRecord(UsersDir(cfg, paths), rec); err != nil {
			t.Fatal(err)
		}
		errb.Reset()
		WarnExposure(r, cfg, paths)
		got = errb.String()
		if strings.Contains(got, "no login users") {
			t.Errorf("bind_address %s: no-users warning with an enabled record: %q", addr, got)
		}
		if exposed != strings.Contains(got, "WARNING: Network exposure enabled!") {
			t.Errorf("bind_address %s: warning %q (exposed: %v)", addr, got, exposed)
		}
		if exposed && !strings.Contains(got, "bind_address 127.0.0.1") {
			t.Errorf("bind_address %s: the warning does not say how to undo it: %q", addr, got)
		}
	}
}
