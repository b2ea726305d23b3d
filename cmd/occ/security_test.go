package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
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
				if err := runtime.WriteUserRecord(usersDir(cfg, paths), r); err != nil {
					t.Fatal(err)
				}
			}
			err := checkUsers(cfg, paths)
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
		app := &App{UI: NewUI(&bytes.Buffer{}, &errb, true, 0, false, false), Paths: meta.Paths{DataDir: t.TempDir()}}
		cfg := meta.DefaultConfig()
		cfg.BindAddress = addr
		warnExposure(app, cfg)
		got := errb.String()
		if exposed != strings.Contains(got, "WARNING: Network exposed with no login users") {
			t.Errorf("bind_address %s with no user record: %q", addr, got)
		}
		r, err := runtime.NewUserRecord("alice", "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		if err := runtime.WriteUserRecord(usersDir(cfg, app.Paths), r); err != nil {
			t.Fatal(err)
		}
		errb.Reset()
		warnExposure(app, cfg)
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

// TestNoPasswordInArgv: no command takes a password (or other secret) as
// an argument or flag, where ps and shell history would see it: passwords
// are read from the terminal or stdin only. `config set` of a secret key
// with a value on the command line is refused and changes nothing.
func TestNoPasswordInArgv(t *testing.T) {
	var cli CLI
	parser, err := kong.New(&cli, kong.Name("occ"), kong.Exit(func(int) {}))
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"print-password-only": true}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			name := strings.ToLower(f.Name)
			// --password-stdin style switches say where to read a secret from,
			// --show-secrets whether to print them; they carry none.
			if f.IsBool() && (strings.HasSuffix(name, "-stdin") || name == "show-secrets") {
				continue
			}
			if !allowed[name] && (strings.Contains(name, "pass") || strings.Contains(name, "secret") || strings.Contains(name, "token")) {
				t.Errorf("occ %s has a flag --%s: secrets must not be given in argv", n.Path(), f.Name)
			}
		}
		for _, p := range n.Positional {
			name := strings.ToLower(p.Name)
			if strings.Contains(name, "pass") || strings.Contains(name, "secret") || strings.Contains(name, "token") {
				t.Errorf("occ %s takes %s as an argument: secrets must not be given in argv", n.Path(), p.Name)
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(parser.Model.Node)

	cfgFile := occEnv(t)
	for _, key := range []string{"auth_password", "password"} {
		code, _, errOut := occ(t, "", "config", "set", key, "hunter2")
		if code == 0 {
			t.Errorf("config set %s VALUE succeeded", key)
		}
		if data, err := os.ReadFile(cfgFile); err == nil && bytes.Contains(data, []byte("hunter2")) {
			t.Errorf("config set %s VALUE wrote the value: %s", key, data)
		}
		if strings.Contains(errOut, "hunter2") {
			t.Errorf("config set %s VALUE echoes the secret: %s", key, errOut)
		}
	}
}

// TestUpstreamPasswordDropped: a plain-text auth_password an upstream
// config holds is removed (with a warning) by the next change occ saves.
func TestUpstreamPasswordDropped(t *testing.T) {
	cfgFile := occEnv(t)
	if err := os.MkdirAll(filepath.Dir(cfgFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, []byte(`{"version":1,"auth_username":"admin","auth_password":"old-secret"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := occ(t, "", "config", "set", "image_tag", "v2")
	if code != 0 || !strings.Contains(errOut, "Removed the deprecated auth_password") {
		t.Fatalf("config set: %d %s %s", code, out, errOut)
	}
	for _, f := range []string{cfgFile, cfgFile + ".bak"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("old-secret")) {
			t.Errorf("the password is still in %s:\n%s", f, data)
		}
	}
	if strings.Contains(out+errOut, "old-secret") {
		t.Errorf("the password was printed: %s %s", out, errOut)
	}
}

// TestResetDropsPassword: config reset keeps the old file as
// config.json.bak, but without the plain-text password upstream kept there,
// broken file or not.
func TestResetDropsPassword(t *testing.T) {
	for _, old := range []string{
		`{"version":1,"auth_username":"admin","auth_password":"old-secret"}`,
		`{"version":1,"auth_password":"old-secret", oops`,
	} {
		cfgFile := occEnv(t)
		if err := os.MkdirAll(filepath.Dir(cfgFile), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfgFile, []byte(old), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := occ(t, "", "config", "reset", "--force"); code != 0 {
			t.Fatalf("config reset: %d %s %s", code, out, errOut)
		}
		for _, f := range []string{cfgFile, cfgFile + ".bak"} {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte("old-secret")) {
				t.Errorf("the password is still in %s:\n%s", f, data)
			}
		}
	}
}

// TestMutatingCommandRemovesStaleTemps: temporary files of saves an occ
// was killed in, in the data and config directories, go at the next
// mutating command.
func TestMutatingCommandRemovesStaleTemps(t *testing.T) {
	cfgFile := occEnv(t)
	dataDir := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(cfgFile))), "data", "opencode-cloud")
	var stale []string
	for _, d := range []string{dataDir, filepath.Dir(cfgFile)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d, ".image-state.json.tmp-99")
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		stale = append(stale, p)
	}
	if code, out, errOut := occ(t, "", "config", "set", "image_tag", "v2"); code != 0 {
		t.Fatalf("%d %s %s", code, out, errOut)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still there", p)
		}
	}
}

// TestUserAddDropsPassword: occ user (like setup and start) saved the
// config with meta.SaveConfig directly and wrote an upstream config's
// plain-text auth_password back. No save writes it now.
func TestUserAddDropsPassword(t *testing.T) {
	cfgFile := occEnv(t)
	t.Setenv("CONTAINERD_ADDRESS", filepath.Join(t.TempDir(), "none.sock"))
	if err := os.MkdirAll(filepath.Dir(cfgFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, []byte(`{"version":1,"auth_username":"admin","auth_password":"old-secret"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := occ(t, "a good password\n", "user", "add", "alice"); code != 0 {
		t.Fatalf("user add: %d %s %s", code, out, errOut)
	}
	for _, f := range []string{cfgFile, cfgFile + ".bak"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("old-secret")) {
			t.Errorf("the password is still in %s:\n%s", f, data)
		}
	}
}
