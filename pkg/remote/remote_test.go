package remote

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestLoadHosts(t *testing.T) {
	tests := []struct {
		name, body, wantErr string
		wantHosts           int
	}{
		{"missing file", "", "", 0},
		{"upstream example", `{ "version": 1, "default_host": "prod-1",
  "hosts": { "prod-1": { "hostname": "1.2.3.4", "user": "me", "port": 22,
  "identity_file": "~/.ssh/id_ed25519", "jump_host": null, "groups": ["prod"], "description": null } } }`, "", 1},
		{"unknown field", `{"version":1,"hosts":{"a":{"hostname":"h","colour":"red"}}}`, `unknown field "colour"`, 0},
		{"bad version", `{"version":2,"hosts":{}}`, "version 2", 0},
		{"default not a host", `{"version":1,"default_host":"x","hosts":{}}`, `default_host "x"`, 0},
		{"bad port", `{"version":1,"hosts":{"a":{"hostname":"h","port":70000}}}`, "invalid port", 0},
		{"bad name", `{"version":1,"hosts":{"a b":{"hostname":"h"}}}`, "invalid host name", 0},
		{"trailing data", `{"version":1,"hosts":{}} {}`, "after the JSON", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hosts.json")
			if tt.body != "" {
				if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			hs, err := LoadHosts(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(hs.Hosts) != tt.wantHosts {
				t.Fatalf("hosts %v, err %v", hs, err)
			}
		})
	}
}

func TestSaveHostsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "hosts.json")
	hs := NewHosts()
	port := 2222
	hs.Hosts["a"] = Host{Hostname: "example.org", Port: &port, Groups: []string{"g"}, OccPath: "/opt/occ"}
	hs.DefaultHost = Str("a")
	if err := SaveHosts(path, hs); err != nil {
		t.Fatal(err)
	}
	got, err := LoadHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Default() != "a" || got.Hosts["a"].PortOr22() != 2222 || got.Hosts["a"].OccPath != "/opt/occ" {
		t.Errorf("round trip: %+v", got)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode: %v %v", st.Mode(), err)
	}
	// An invalid file is never written.
	hs.DefaultHost = Str("nope")
	if err := SaveHosts(path, hs); err == nil {
		t.Error("saved a default_host that is not a host")
	}
	if got, _ := LoadHosts(path); got.Default() != "a" {
		t.Error("a refused save changed the file")
	}
}

func TestParseJump(t *testing.T) {
	tests := []struct {
		in, user, host string
		port           int
		bad            bool
	}{
		{"bastion", "", "bastion", 22, false},
		{"me@bastion:2200", "me", "bastion", 2200, false},
		{"[::1]:22", "", "::1", 22, false},
		{"@bastion", "", "", 0, true},
		{"bastion:0", "", "", 0, true},
		{"", "", "", 0, true},
	}
	for _, tt := range tests {
		u, h, p, err := ParseJump(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && (u != tt.user || h != tt.host || p != tt.port)) {
			t.Errorf("ParseJump(%q) = %q %q %d %v", tt.in, u, h, p, err)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"status": "status", "": "''", "a b": "'a b'", "it's": `'it'\''s'`, "--port=3000": "--port=3000", "$HOME": "'$HOME'",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
	if got := pathExpr("~/.local/bin/occ"); got != `"$HOME"/.local/bin/occ` {
		t.Errorf("pathExpr = %s", got)
	}
}

func TestPlatformAndVersions(t *testing.T) {
	for uname, want := range map[string]string{"Linux x86_64": "linux/amd64", "Linux aarch64": "linux/arm64", "Darwin arm64": "darwin/arm64", "Linux mips": "", "": ""} {
		if got := PlatformOf(uname); got != want {
			t.Errorf("PlatformOf(%q) = %q, want %q", uname, got, want)
		}
	}
	for _, tt := range []struct {
		remote, local string
		older         bool
	}{{"0.1.0", "0.2.0", true}, {"0.2.0", "0.1.0", false}, {"0.1.0", "0.1.0", false}, {"v0.1.0", "0.1.1", true}, {"", "0.1.0", false}, {"0.1.0", "dev", false}} {
		if got := Older(tt.remote, tt.local); got != tt.older {
			t.Errorf("Older(%q, %q) = %v", tt.remote, tt.local, got)
		}
	}
}

func TestParseProbe(t *testing.T) {
	r, err := parseProbe("Linux x86_64\n/home/me\nfound /home/me/.local/bin/occ\nocc 0.1.0 (commit abc)\n")
	if err != nil || !r.Found || r.Version != "0.1.0" || r.Path != "/home/me/.local/bin/occ" || r.Platform() != "linux/amd64" {
		t.Errorf("found: %+v %v", r, err)
	}
	r, err = parseProbe("Linux aarch64\n/root\nmissing /root/.local/bin/occ\n")
	if err != nil || r.Found || r.Path != "/root/.local/bin/occ" {
		t.Errorf("missing: %+v %v", r, err)
	}
	if _, err := parseProbe("garbage"); err == nil {
		t.Error("garbage parsed")
	}
	c := &Conn{Occ: RemoteOcc{Home: "/home/me/", Found: true, Version: "0.0.1", Path: "/home/me/.local/bin/occ"}}
	if !c.NeedsInstall("0.1.0") {
		t.Error("an older occ at occ's own path needs no update")
	}
	c.Occ.Path = "/usr/bin/occ"
	if c.NeedsInstall("0.1.0") {
		t.Error("an older packaged occ would be replaced")
	}
}

func TestForwardedArgs(t *testing.T) {
	got := ForwardedArgs([]string{"--remote-host", "a", "-v", "--accept-new-host-key", "status", "--remote-host=b", "--json", "--", "--local"})
	want := "-v status --json -- --local"
	if strings.Join(got, " ") != want {
		t.Errorf("ForwardedArgs = %q, want %q", got, want)
	}
}

func TestPrefixWriter(t *testing.T) {
	var b bytes.Buffer
	w := &PrefixWriter{W: &b, Prefix: "[h] "}
	for _, s := range []string{"one\ntw", "o\n", "", "three"} {
		if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := b.String(); got != "[h] one\n[h] two\n[h] three" {
		t.Errorf("got %q", got)
	}
}

type answer bool

func (a answer) Confirm(string, bool, string) (bool, error) { return bool(a), nil }

func newKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestHostKeys(t *testing.T) {
	const host = "127.0.0.1:2222"
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2222}
	known, changed := newKey(t), newKey(t)
	line := knownhosts.Line([]string{knownhosts.Normalize(host)}, known) + "\n"

	tests := []struct {
		name        string
		file        string // ~/.ssh/known_hosts
		key         ssh.PublicKey
		acceptNew   bool
		interactive bool
		answer      answer
		wantErr     func(error) bool
		recorded    bool
	}{
		{name: "known", file: line, key: known},
		{name: "changed is refused even with accept-new", file: "# c\n" + line, key: changed, acceptNew: true, wantErr: errdefs.IsFailedPrecondition},
		{name: "unknown without a terminal", key: known, wantErr: errdefs.IsFailedPrecondition},
		{name: "unknown, accept-new", key: known, acceptNew: true, recorded: true},
		{name: "unknown, yes on the terminal", key: known, interactive: true, answer: true, recorded: true},
		{name: "unknown, no on the terminal", key: known, interactive: true, answer: false, wantErr: errdefs.IsAborted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			user := filepath.Join(dir, "known_hosts")
			if tt.file != "" {
				if err := os.WriteFile(user, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var log bytes.Buffer
			k := &HostKeys{Files: []string{user}, Own: filepath.Join(dir, "occ", "known_hosts"), AcceptNew: tt.acceptNew,
				Interactive: tt.interactive, Prompt: tt.answer, Log: &log}
			err := k.Callback()(host, addr, tt.key)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !tt.wantErr(err) {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(tt.name, "changed") && (err == nil || !strings.Contains(err.Error(), user+" line 2")) {
				t.Errorf("a changed key's error names no file and line: %v", err)
			}
			own, rerr := os.ReadFile(k.Own)
			if tt.recorded != (rerr == nil && strings.Contains(string(own), knownhosts.Line([]string{"[127.0.0.1]:2222"}, tt.key))) {
				t.Errorf("recorded = %q (%v), want recorded %v", own, rerr, tt.recorded)
			}
			if tt.recorded {
				// Known from now on, without asking.
				k.AcceptNew, k.Interactive = false, false
				if err := k.Callback()(host, addr, tt.key); err != nil {
					t.Errorf("the recorded key is not known: %v", err)
				}
				if got := k.Algorithms(host); len(got) != 1 || got[0] != ssh.KeyAlgoED25519 {
					t.Errorf("Algorithms = %v", got)
				}
			}
		})
	}
}
