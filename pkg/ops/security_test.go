package ops

import (
	"bytes"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// TestCheckUsers: no start without a login user unless
// allow_unauthenticated_network says so.
func TestCheckUsers(t *testing.T) {
	for _, tc := range []struct {
		users   []string
		allow   bool
		wantErr bool
	}{
		{nil, false, true}, {[]string{}, false, true}, {nil, true, false}, {[]string{"alice"}, false, false},
	} {
		cfg := meta.DefaultConfig()
		cfg.Users, cfg.AllowUnauthenticatedNetwork = tc.users, tc.allow
		err := CheckUsers(cfg)
		if (err != nil) != tc.wantErr {
			t.Errorf("users %v allow %v: %v", tc.users, tc.allow, err)
		}
		if err != nil && (!errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "occ user add") || !strings.Contains(err.Error(), "allow_unauthenticated_network")) {
			t.Errorf("refusal does not say what to do: %v", err)
		}
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
		cfg := meta.DefaultConfig()
		cfg.BindAddress = addr
		cfg.Users = []string{"alice"}
		WarnExposure(r, cfg)
		got := errb.String()
		if exposed != strings.Contains(got, "WARNING: Network exposure enabled!") {
			t.Errorf("bind_address %s: warning %q (exposed: %v)", addr, got, exposed)
		}
		if exposed && !strings.Contains(got, "bind_address 127.0.0.1") {
			t.Errorf("bind_address %s: the warning does not say how to undo it: %q", addr, got)
		}
	}
}
