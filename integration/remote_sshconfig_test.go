//go:build integration

package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	sshconfig "github.com/kevinburke/ssh_config"

	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/remote"
)

// TestRemoteSSHConfig reaches a real sshd (testutil.StartSSHD) through a
// Host alias defined only in a throw-away HOME's ~/.ssh/config: host add
// fills the entry from it and says so; an entry that keeps only the alias
// (--no-ssh-config) is resolved at connect time, as ssh(1) would; and
// --write-ssh-config appends a block that the ssh_config parser and
// ssh -G read back, and that is refused the second time; on a terminal
// the block is offered and written on "y".
func TestRemoteSSHConfig(t *testing.T) {
	testutil.RequireTestbed(t)
	sshd := testutil.StartSSHD(t)
	home := t.TempDir()
	local := testutil.NewInstall(t, "", "HOME="+home, "SSH_AUTH_SOCK=")
	bin := testutil.OccBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	occ := func(args ...string) occResult {
		t.Helper()
		return resultOf(testutil.Run(ctx, t, bin, local.Env, "", time.Minute, args...))
	}
	mustOK := func(args ...string) occResult {
		t.Helper()
		r := occ(args...)
		if r.code != 0 {
			t.Fatalf("occ %s: %s", strings.Join(args, " "), r)
		}
		return r
	}
	port := strconv.Itoa(sshd.Port)
	cfgPath := remote.SSHConfigFile(home)
	if err := os.MkdirAll(filepath.Dir(cfgPath), 0o700); err != nil {
		t.Fatal(err)
	}
	orig := "Host box\n  HostName 127.0.0.1\n  Port " + port + "\n  User " + sshd.User + "\n  IdentityFile " + sshd.UserKey + "\n"
	if err := os.WriteFile(cfgPath, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	hosts := func() *remote.Hosts {
		t.Helper()
		hs, err := remote.LoadHosts(remote.HostsFile(local.Paths))
		if err != nil {
			t.Fatal(err)
		}
		return hs
	}

	// host add box box: every value from the alias's block, reported.
	r := mustOK("--accept-new-host-key", "host", "add", "box", "box")
	wantContains(t, "host add from ssh config", r.stderr,
		"From "+cfgPath+" (Host box): HostName 127.0.0.1, User "+sshd.User+", Port "+port+", IdentityFile "+sshd.UserKey,
		"Connected to box", "Added host box ("+sshd.User+"@127.0.0.1:"+port+")")
	if h := hosts().Hosts["box"]; h.Hostname != "127.0.0.1" || h.PortOr22() != sshd.Port || h.UserOr("") != sshd.User {
		t.Errorf("hosts.json box = %+v, want the ssh config's values", h)
	}

	// Only the alias saved: resolved when connecting (occ installed there,
	// then run).
	mustOK("host", "add", "bare", "box", "--no-ssh-config", "--no-verify")
	if h := hosts().Hosts["bare"]; h.Hostname != "box" || h.Port != nil || h.User != nil || h.IdentityFile != nil {
		t.Errorf("hosts.json bare = %+v, want only the alias", h)
	}
	r = mustOK("host", "test", "bare", "--yes")
	wantContains(t, "host test through the alias", r.stderr, "Installed occ", "Host bare works")

	if data, err := os.ReadFile(cfgPath); err != nil || string(data) != orig {
		t.Fatalf("without a terminal or --write-ssh-config, %s changed: %q (%v)", cfgPath, data, err)
	}

	// --write-ssh-config: appended after the existing block, read back.
	r = mustOK("host", "add", "w", "127.0.0.1", "-p", port, "-u", sshd.User, "-i", sshd.UserKey,
		"--no-ssh-config", "--no-verify", "--write-ssh-config")
	wantContains(t, "write ssh config", r.stderr, `Added "Host w" to `+cfgPath)
	data, err := os.ReadFile(cfgPath)
	if err != nil || !strings.HasPrefix(string(data), orig) {
		t.Fatalf("%s: want the old content kept in front, got %q (%v)", cfgPath, data, err)
	}
	parsed, err := sshconfig.DecodeBytes(data)
	if err != nil {
		t.Fatalf("ssh_config cannot parse what occ wrote: %v\n%s", err, data)
	}
	for key, want := range map[string]string{"HostName": "127.0.0.1", "Port": port, "User": sshd.User, "IdentityFile": sshd.UserKey} {
		if got, _ := parsed.Get("w", key); got != want {
			t.Errorf("ssh_config: %s for w = %q, want %q", key, got, want)
		}
	}
	if out, err := exec.Command("ssh", "-G", "-F", cfgPath, "w").Output(); err != nil {
		t.Errorf("ssh -G: %v", err)
	} else {
		wantContains(t, "ssh -G w", string(out), "hostname 127.0.0.1\n", "port "+port+"\n", "user "+sshd.User+"\n")
	}
	// The written alias works for occ too.
	mustOK("host", "add", "viaw", "w", "--no-verify")
	wantContains(t, "host test through the written alias", mustOK("host", "test", "viaw").stderr, "Host viaw works")

	// A second block for w: refused, nothing saved, the file unchanged.
	r = occ("host", "add", "w", "127.0.0.1", "--force", "--no-verify", "--write-ssh-config", "-d", "changed")
	if r.code == 0 || !strings.Contains(r.stderr, "already has a Host block for w") {
		t.Errorf("a second --write-ssh-config for w: want a refusal, got %s", r)
	}
	if again, _ := os.ReadFile(cfgPath); string(again) != string(data) {
		t.Errorf("a refused write changed %s:\n%s", cfgPath, again)
	}
	if h := hosts().Hosts["w"]; h.Description != nil {
		t.Errorf("a refused host add changed hosts.json: %+v", h)
	}

	// On a terminal the block is offered (default no); "y" writes it. (A
	// config file keeps the first-run wizard away.)
	if err := meta.SaveConfig(local.Paths.ConfigFile, meta.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	p := startPTY(t, local.Env, bin, "host", "add", "tty", "127.0.0.1", "-p", port, "--no-ssh-config", "--no-verify")
	p.expect(`Add a "Host tty" block to ` + cfgPath)
	p.send("y\r")
	p.expect(`Added "Host tty"`)
	waitPTY(t, p)
	if data, err := os.ReadFile(cfgPath); err != nil || !strings.Contains(string(data), "Host tty\n    HostName 127.0.0.1\n    Port "+port+"\n") {
		t.Errorf("after yes on a terminal, %s = %q (%v)", cfgPath, data, err)
	}
}
