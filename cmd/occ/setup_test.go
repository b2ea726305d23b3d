package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// freePort returns a port that is free on 127.0.0.1 right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestSetupFlags drives `occ setup` without a terminal: --yes with flags,
// and every refusal (which must leave no config behind).
func TestSetupFlags(t *testing.T) {
	port := freePort(t)
	ps := strconv.Itoa(port)
	tests := []struct {
		name     string
		existing *meta.Config // written before the run, when set
		args     []string
		stdin    string
		wantCode int
		wantErr  []string // substrings of stderr
		notOut   []string // substrings that must not appear on stdout or stderr
		check    func(t *testing.T, cfg *meta.Config, usersDir string)
	}{
		{name: "no terminal and no --yes", args: []string{"setup"}, wantCode: 1,
			wantErr: []string{"not running on one", "--yes", "--image-source prebuilt|build", "--port N", "--bind-address ADDR", "--user NAME --password-stdin", "--start|--no-start"}},
		{name: "-q means no prompts either", args: []string{"-q", "setup"}, wantCode: 1, wantErr: []string{"--yes"}},
		{name: "bad image source", args: []string{"setup", "--yes", "--image-source", "docker"}, wantCode: 2,
			wantErr: []string{`--image-source must be prebuilt or build, got "docker"`}},
		{name: "privileged port", args: []string{"setup", "--yes", "--port", "80"}, wantCode: 2, wantErr: []string{"--port", "between 1024 and 65535"}},
		{name: "port out of range", args: []string{"setup", "--yes", "--port", "70000"}, wantCode: 2, wantErr: []string{"between 1024 and 65535"}},
		{name: "port not a number", args: []string{"setup", "--yes", "--port", "web"}, wantCode: 2, wantErr: []string{"--port"}},
		{name: "bad bind address", args: []string{"setup", "--yes", "--bind-address", "my-host"}, wantCode: 2,
			wantErr: []string{"--bind-address", `invalid IP address "my-host"`}},
		{name: "bad username", args: []string{"setup", "--yes", "--user", "Alice", "--password-stdin"}, stdin: "pw\n", wantCode: 1,
			wantErr: []string{"--user", "not a valid username"}},
		{name: "reserved username", args: []string{"setup", "--yes", "--user", "root", "--password-stdin"}, stdin: "pw\n", wantCode: 1,
			wantErr: []string{"account of the sandbox image"}},
		{name: "user without --password-stdin", args: []string{"setup", "--yes", "--user", "alice"}, wantCode: 2,
			wantErr: []string{"needs --password-stdin", "never from a flag"}},
		{name: "--password-stdin without --user", args: []string{"setup", "--yes", "--password-stdin"}, stdin: "pw\n", wantCode: 2,
			wantErr: []string{"--password-stdin needs --user"}},
		{name: "--password-stdin without --yes", args: []string{"setup", "--user", "alice", "--password-stdin"}, stdin: "pw\n", wantCode: 2,
			wantErr: []string{"--password-stdin needs --yes"}},
		{name: "no password flag exists", args: []string{"setup", "--yes", "--user", "alice", "--password", "pw"}, wantCode: 2,
			wantErr: []string{"unknown flag --password"}},
		{name: "password too long", args: []string{"setup", "--yes", "--user", "alice", "--password-stdin"}, stdin: strings.Repeat("p", 257) + "\n", wantCode: 1,
			wantErr: []string{"257 bytes long", "at most 256"}},
		{name: "empty stdin", args: []string{"setup", "--yes", "--user", "alice", "--password-stdin"}, wantCode: 1,
			wantErr: []string{"no password given on stdin"}},
		{name: "start and no-start", args: []string{"setup", "--yes", "--start", "--no-start"}, wantCode: 2,
			wantErr: []string{"--start and --no-start can't be used together"}},

		{name: "defaults on a new install", args: []string{"setup", "--yes"},
			wantErr: []string{"Configuration saved", "no login user is configured", "occ user add NAME", "Start the service with: occ start"},
			check: func(t *testing.T, cfg *meta.Config, _ string) {
				if cfg.ImageSource != meta.SourcePrebuilt || cfg.OpencodeWebPort != 3000 || cfg.BindAddress != "127.0.0.1" || len(cfg.Users) != 0 {
					t.Errorf("config: source %q port %d bind_address %q users %v", cfg.ImageSource, cfg.OpencodeWebPort, cfg.BindAddress, cfg.Users)
				}
			}},
		{name: "everything from flags", args: []string{"setup", "--yes", "--image-source", "build", "--port", ps, "--bind-address", "127.0.0.1",
			"--user", "alice", "--password-stdin", "--no-start"}, stdin: trickyPassword + "\n",
			wantErr: []string{"Configuration saved", "Added user alice", "takes effect when it next starts"},
			notOut:  []string{trickyPassword, "Warning"},
			check: func(t *testing.T, cfg *meta.Config, dir string) {
				if cfg.ImageSource != meta.SourceBuild || cfg.OpencodeWebPort != port || cfg.BindAddress != "127.0.0.1" {
					t.Errorf("config: source %q port %d bind_address %q", cfg.ImageSource, cfg.OpencodeWebPort, cfg.BindAddress)
				}
				if len(cfg.Users) != 1 || cfg.Users[0] != "alice" {
					t.Errorf("users = %v", cfg.Users)
				}
				r, err := runtime.ReadUserRecord(dir, "alice")
				if err != nil {
					t.Fatal(err)
				}
				if !runtime.VerifyPassword(r.PasswordHash, trickyPassword) || r.Locked {
					t.Errorf("record %+v does not hold the password from stdin", r)
				}
			}},
		{name: "all interfaces warns loudly and leaves bind alone", args: []string{"setup", "--yes", "--bind-address", "0.0.0.0", "--port", ps},
			wantErr: []string{"WARNING: Network exposure enabled!", "0.0.0.0:" + ps},
			check: func(t *testing.T, cfg *meta.Config, _ string) {
				if cfg.BindAddress != "0.0.0.0" || cfg.Bind != "localhost" {
					t.Errorf("bind_address %q, bind %q (the legacy key must not change)", cfg.BindAddress, cfg.Bind)
				}
			}},
		{name: "keeps the other settings", existing: func() *meta.Config {
			c := meta.DefaultConfig()
			c.UpdateCheck, c.ImageTag, c.Users, c.OpencodeWebPort = meta.UpdateCheckNever, "v1", []string{"bob"}, port
			return c
		}(), args: []string{"setup", "--yes", "--image-source", "build"},
			notOut: []string{"no login user"},
			check: func(t *testing.T, cfg *meta.Config, _ string) {
				if cfg.ImageSource != meta.SourceBuild || cfg.UpdateCheck != meta.UpdateCheckNever || cfg.ImageTag != "v1" ||
					cfg.OpencodeWebPort != port || len(cfg.Users) != 1 {
					t.Errorf("config after setup: %+v", cfg)
				}
			}},
		{name: "a port in use is a warning", args: []string{"setup", "--yes", "--port", "BUSY"},
			wantErr: []string{"Warning: port", "is already in use on 127.0.0.1", "occ start needs it free", "Configuration saved"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := userEnv(t)
			cfgFile := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(dir)))), "config", "opencode-cloud", "config.json")
			if tc.existing != nil {
				if err := meta.SaveConfig(cfgFile, tc.existing); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.ReadFile(cfgFile)
			args := append([]string{}, tc.args...)
			for i, a := range args {
				if a == "BUSY" {
					l, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					defer l.Close()
					args[i] = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
				}
			}
			code, out, errOut := occ(t, tc.stdin, args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, out, errOut)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			for _, n := range tc.notOut {
				if strings.Contains(out+errOut, n) {
					t.Errorf("output has %q:\n%s%s", n, out, errOut)
				}
			}
			after, err := os.ReadFile(cfgFile)
			if tc.wantCode != 0 {
				if !bytes.Equal(before, after) {
					t.Errorf("a refused setup changed the config:\n%s", after)
				}
				return
			}
			if err != nil {
				t.Fatalf("no config written: %v", err)
			}
			if bytes.Contains(after, []byte(trickyPassword)) {
				t.Errorf("the password is in the config file")
			}
			cfg, _, err := meta.LoadConfig(cfgFile)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("setup wrote an invalid config: %v", err)
			}
			if tc.check != nil {
				tc.check(t, cfg, dir)
			}
		})
	}
}

// TestSetupExistingUser refuses to add a user twice and leaves the config
// and the record alone.
func TestSetupExistingUser(t *testing.T) {
	dir := userEnv(t)
	if code, _, errOut := occ(t, "first\n", "setup", "--yes", "--user", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("first setup: %s", errOut)
	}
	rec, _ := os.ReadFile(filepath.Join(dir, "alice.json"))
	code, _, errOut := occ(t, "second\n", "setup", "--yes", "--user", "alice", "--password-stdin", "--image-source", "build")
	if code != 1 || !strings.Contains(errOut, "user alice already exists") || !strings.Contains(errOut, "occ user passwd alice") {
		t.Fatalf("second setup: exit %d\n%s", code, errOut)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "alice.json")); !bytes.Equal(rec, again) {
		t.Error("the existing record was rewritten")
	}
	_, out, _ := occ(t, "", "config", "get", "image_source")
	if strings.TrimSpace(out) != meta.SourcePrebuilt {
		t.Errorf("image_source changed by a refused setup: %q", out)
	}
}

func TestSetupPlanApply(t *testing.T) {
	tests := []struct {
		name    string
		plan    setupPlan
		wantErr string
	}{
		{name: "build local", plan: setupPlan{ImageSource: "build", Port: 3001, BindAddress: "127.0.0.1"}},
		{name: "ipv6 any in brackets", plan: setupPlan{ImageSource: "prebuilt", Port: 3000, BindAddress: "[::]"}},
		{name: "ipv6 loopback on the cni network", plan: setupPlan{ImageSource: "prebuilt", Port: 3000, BindAddress: "[::1]"}, wantErr: "publishes on IPv4 only"},
		{name: "with a user", plan: setupPlan{ImageSource: "prebuilt", Port: 3000, BindAddress: "localhost", User: "carol"}},
		{name: "bad source", plan: setupPlan{ImageSource: "pull", Port: 3000, BindAddress: "127.0.0.1"}, wantErr: "must be prebuilt or build"},
		{name: "bad port", plan: setupPlan{ImageSource: "build", Port: 22, BindAddress: "127.0.0.1"}, wantErr: "between 1024 and 65535"},
		{name: "bad address", plan: setupPlan{ImageSource: "build", Port: 3000, BindAddress: "example.com"}, wantErr: "invalid IP address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := meta.DefaultConfig()
			cfg.Bind = "sentinel"
			err := tc.plan.applyTo(cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ImageSource != tc.plan.ImageSource || cfg.OpencodeWebPort != tc.plan.Port || cfg.BindAddress != tc.plan.BindAddress {
				t.Errorf("applied: %q %d %q", cfg.ImageSource, cfg.OpencodeWebPort, cfg.BindAddress)
			}
			if cfg.Bind != "sentinel" {
				t.Errorf("the legacy bind key was written: %q", cfg.Bind)
			}
			if tc.plan.User != "" && (len(cfg.Users) != 1 || cfg.Users[0] != tc.plan.User) {
				t.Errorf("users = %v", cfg.Users)
			}
		})
	}
}

func TestValidatePortAndHost(t *testing.T) {
	for in, ok := range map[string]bool{"3000": true, " 1024 ": true, "65535": true, "1023": false, "65536": false, "0": false, "x": false, "": false} {
		if err := validatePort(in); (err == nil) != ok {
			t.Errorf("validatePort(%q) = %v", in, err)
		}
	}
	for in, want := range map[string]string{"localhost": "127.0.0.1", "0.0.0.0": "0.0.0.0", "[::1]": "::1", "bad": "127.0.0.1"} {
		if got := portCheckHost(in); got != want {
			t.Errorf("portCheckHost(%q) = %q, want %q", in, got, want)
		}
	}
	if s := planSummary(setupPlan{ImageSource: "build", Port: 3000, BindAddress: "0.0.0.0", User: "dave"}, meta.DefaultConfig(), meta.Paths{ConfigFile: "/c.json"}); !strings.Contains(s, optBuild) ||
		!strings.Contains(s, "[NETWORK EXPOSED]") || !strings.Contains(s, "dave (new)") {
		t.Errorf("summary:\n%s", s)
	}
}
