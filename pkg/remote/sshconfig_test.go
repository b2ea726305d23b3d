package remote

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestSSHConfigFill(t *testing.T) {
	home := t.TempDir()
	key := filepath.Join(home, ".ssh", "id_box")
	if err := os.MkdirAll(filepath.Dir(key), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	included := filepath.Join(home, "included.conf")
	if err := os.WriteFile(included, []byte("Host inc\n  HostName 10.9.9.9\n  User incuser\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	full := "Host box\n  HostName 10.0.0.5\n  User deploy\n  Port 2222\n  IdentityFile ~/.ssh/id_box\n  ProxyJump bastion:2200\n"
	tests := []struct {
		name, config string
		in           Host
		want         Host
		took         []string
		wantErr      string
	}{
		{name: "no file", in: Host{Hostname: "box"}, want: Host{Hostname: "box"}},
		{name: "every field from the alias's block", config: full, in: Host{Hostname: "box"},
			want: Host{Hostname: "10.0.0.5", User: Str("deploy"), Port: ptr(2222), IdentityFile: Str("~/.ssh/id_box"), JumpHost: Str("bastion:2200")},
			took: []string{KeyHostName, KeyUser, KeyPort, KeyIdentityFile, KeyProxyJump}},
		{name: "flags win over the file", config: full, in: Host{Hostname: "box", User: Str("me"), Port: ptr(22), JumpHost: Str("j")},
			want: Host{Hostname: "10.0.0.5", User: Str("me"), Port: ptr(22), IdentityFile: Str("~/.ssh/id_box"), JumpHost: Str("j")},
			took: []string{KeyHostName, KeyIdentityFile}},
		{name: "another alias: nothing", config: full, in: Host{Hostname: "boxer"}, want: Host{Hostname: "boxer"}},
		{name: "Host * fills what the block leaves", config: "Host box\n  User deploy\nHost *\n  User nobody\n  Port 2200\n",
			in: Host{Hostname: "box"}, want: Host{Hostname: "box", User: Str("deploy"), Port: ptr(2200)}, took: []string{KeyUser, KeyPort}},
		{name: "the first value wins, an earlier Host * too", config: "Host *\n  User everyone\nHost box\n  User deploy\n",
			in: Host{Hostname: "box"}, want: Host{Hostname: "box", User: Str("everyone")}, took: []string{KeyUser}},
		{name: "a negated pattern excludes", config: "Host * !box\n  User other\n",
			in: Host{Hostname: "box"}, want: Host{Hostname: "box"}},
		{name: "wildcard and %h", config: "Host *.lan\n  HostName %h.example.org\n",
			in: Host{Hostname: "db.lan"}, want: Host{Hostname: "db.lan.example.org"}, took: []string{KeyHostName}},
		{name: "a missing IdentityFile is passed over, %d expanded", config: "Host box\n  IdentityFile ~/.ssh/nope\n  IdentityFile %d/.ssh/id_box\n",
			in: Host{Hostname: "box"}, want: Host{Hostname: "box", IdentityFile: Str(key)}, took: []string{KeyIdentityFile}},
		{name: "ProxyJump none", config: "Host box\n  ProxyJump none\n", in: Host{Hostname: "box"}, want: Host{Hostname: "box"}},
		{name: "Match host", config: "Match host box\n  User matched\n",
			in: Host{Hostname: "box"}, want: Host{Hostname: "box", User: Str("matched")}, took: []string{KeyUser}},
		{name: "Include", config: "Include " + included + "\n",
			in: Host{Hostname: "inc"}, want: Host{Hostname: "10.9.9.9", User: Str("incuser")}, took: []string{KeyHostName, KeyUser}},
		{name: "two jump hosts", config: "Host box\n  ProxyJump a,b\n", in: Host{Hostname: "box"}, wantErr: "one jump host"},
		{name: "bad port", config: "Host box\n  Port http\n", in: Host{Hostname: "box"}, wantErr: `Port "http"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			if tt.config != "" {
				if err := os.WriteFile(path, []byte(tt.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := LoadSSHConfig(path, home, "me")
			if err != nil {
				t.Fatal(err)
			}
			got, took, err := c.Fill(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if show(got) != show(tt.want) || !slices.Equal(took, tt.took) {
				t.Errorf("Fill = %s took %v, want %s took %v", show(got), took, show(tt.want), tt.took)
			}
		})
	}
}

func ptr(i int) *int { return &i }

// show is a Host's SSH fields as one comparable line.
func show(h Host) string {
	s := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	port := "<nil>"
	if h.Port != nil {
		port = strconv.Itoa(*h.Port)
	}
	return strings.Join([]string{h.Hostname, s(h.User), port, s(h.IdentityFile), s(h.JumpHost)}, " ")
}

func TestLoadSSHConfigRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte("Match exec \"true\"\n  User x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadSSHConfig(path, t.TempDir(), "me")
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want an invalid-argument error naming %s", err, path)
	}
}

func TestSSHConfigFillJump(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte("Host bastion\n  HostName 10.0.0.1\n  User jump\n  Port 2200\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadSSHConfig(path, t.TempDir(), "me")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, host string
		port       int
		given      bool
		want       string
	}{
		{"", "bastion", 22, false, "jump@10.0.0.1:2200"},
		{"me", "bastion", 22, true, "me@10.0.0.1:22"},
		{"", "other", 22, false, "@other:22"},
	}
	for _, tt := range tests {
		u, h, p, err := c.FillJump(tt.user, tt.host, tt.port, tt.given)
		if got := u + "@" + h + ":" + strconv.Itoa(p); err != nil || got != tt.want {
			t.Errorf("FillJump(%q, %q, %d, %v) = %s, %v; want %s", tt.user, tt.host, tt.port, tt.given, got, err, tt.want)
		}
	}
}

func TestAppendSSHConfigBlock(t *testing.T) {
	h := Host{Hostname: "10.0.0.5", User: Str("deploy"), Port: ptr(2222), IdentityFile: Str("~/my keys/id"), JumpHost: Str("bastion")}
	tests := []struct {
		name, old    string
		noFile       bool
		wantErr      string
		wantShadowed []string
	}{
		{name: "no file yet", noFile: true},
		{name: "appended after other blocks", old: "Host other\n  User x\n# a comment\nHost *\n  ServerAliveInterval 30"},
		{name: "a block for the alias exists", old: "Host other box\n  User x\n", wantErr: "already has a Host block for box"},
		{name: "an earlier Host * shadows User", old: "Host *\n  User everyone\n", wantShadowed: []string{KeyUser}},
		{name: "unparsable", old: "Match exec true\n", wantErr: "not written"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			path := SSHConfigFile(home)
			if !tt.noFile {
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tt.old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			shadowed, err := AppendSSHConfigBlock(path, home, "box", h)
			data, _ := os.ReadFile(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if string(data) != tt.old {
					t.Errorf("a refused write changed the file: %q", data)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(data), tt.old) || !strings.Contains(string(data), "Host box\n") {
				t.Errorf("file = %q: want the old content, then the block", data)
			}
			if !slices.Equal(shadowed, tt.wantShadowed) {
				t.Errorf("shadowed = %v, want %v", shadowed, tt.wantShadowed)
			}
			st, err := os.Stat(path)
			if wantMode := map[bool]os.FileMode{true: 0o600, false: 0o644}[tt.noFile]; err != nil || st.Mode().Perm() != wantMode {
				t.Errorf("mode = %v (%v), want %v", st.Mode().Perm(), err, wantMode)
			}
			if tt.wantShadowed != nil {
				return
			}
			// ssh_config reads the block back as the host.
			c, err := LoadSSHConfig(path, home, "me")
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := c.Fill(Host{Hostname: "box", IdentityFile: Str("")})
			got.IdentityFile = h.IdentityFile // the key file does not exist: passed over by Fill
			if v, _ := c.cfg.Get("box", KeyIdentityFile); err != nil || show(got) != show(h) || v != *h.IdentityFile {
				t.Errorf("read back %s (IdentityFile %q, %v), want %s", show(got), v, err, show(h))
			}
		})
	}
}

func TestAppendSSHConfigBlockKeepsLink(t *testing.T) {
	home := t.TempDir()
	target := filepath.Join(home, "dotfiles", "ssh_config")
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte("Host a\n  User a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := SSHConfigFile(home)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if _, err := AppendSSHConfigBlock(path, home, "box", Host{Hostname: "h"}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(path); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("%s is no longer a link (%v)", path, err)
	}
	if data, _ := os.ReadFile(target); !strings.Contains(string(data), "Host box\n    HostName h\n") {
		t.Errorf("link target = %q, want the block in it", data)
	}
}
