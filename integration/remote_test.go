//go:build integration

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/remote"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// TestRemoteHosts drives occ on a "remote" host over SSH: a real sshd on
// loopback (testutil.StartSSHD) whose sessions run with the command
// fixture's config and data directories, so that the remote occ works the
// test sandbox on the testbed's containerd, while the local occ has an
// installation of its own (hosts.json, known_hosts). It covers host add,
// list, show, edit, test, default and remove; an unknown host key refused
// without a terminal, trusted with --accept-new-host-key, and trusted on a
// terminal after its fingerprint is shown (the ~/.ssh/config block
// offered then declined); a changed key refused, naming
// the file and line; occ installed on a remote that has none, and updated
// when older; status, config get, start and stop run remotely with their
// exit codes; a host reached through a jump host; a password prompt
// answered through the remote PTY.
func TestRemoteHosts(t *testing.T) {
	f := newCmdFixture(t, nil)
	var remoteEnv []string
	for k, v := range testutil.NewInstall(t, f.base).Vars() {
		if v != "" {
			remoteEnv = append(remoteEnv, k+"="+v)
		}
	}
	sshd := testutil.StartSSHD(t, remoteEnv...)
	local := testutil.NewInstall(t, "", "HOME="+t.TempDir(), "SSH_AUTH_SOCK=")
	occ := func(args ...string) occResult {
		t.Helper()
		return resultOf(testutil.Run(f.ctx, t, f.bin, local.Env, "", 2*time.Minute, args...))
	}
	mustOK := func(args ...string) occResult {
		t.Helper()
		r := occ(args...)
		if r.code != 0 {
			t.Fatalf("occ %s: %s", strings.Join(args, " "), r)
		}
		return r
	}
	hostsFile := remote.HostsFile(local.Paths)
	knownHosts := remote.KnownHostsFile(local.Paths)
	port := strconv.Itoa(sshd.Port)
	add := []string{"host", "add", "tb", "127.0.0.1", "-p", port, "-u", sshd.User, "-i", sshd.UserKey}

	// An unknown host key, no terminal, no flag: refused, nothing saved.
	r := occ(add...)
	if r.code == 0 {
		t.Fatalf("host add with an unknown host key succeeded: %s", r)
	}
	wantContains(t, "unknown key", r.stderr, "is not known", "SHA256:", "--accept-new-host-key")
	if _, err := os.Stat(hostsFile); !os.IsNotExist(err) {
		t.Errorf("a refused host add wrote %s (%v)", hostsFile, err)
	}

	// A changed key: refused, with the file and line to fix.
	other := testutil.StartSSHD(t) // its host key is not sshd's
	wrong := "# occ test\n" + strings.Replace(other.KnownHostsLine(), strconv.Itoa(other.Port), port, 1) + "\n"
	if err := os.MkdirAll(filepath.Dir(knownHosts), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(knownHosts, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	r = occ(append([]string{"--accept-new-host-key"}, add...)...)
	if r.code == 0 {
		t.Fatalf("host add with a changed host key succeeded: %s", r)
	}
	wantContains(t, "changed key", r.stderr, "REMOTE HOST KEY CHANGED", knownHosts+" line 2", "ssh-keygen -R")
	if err := os.Remove(knownHosts); err != nil {
		t.Fatal(err)
	}

	// Trust on first use with the flag: recorded; occ is not on the remote yet.
	r = mustOK(append([]string{"--accept-new-host-key"}, append(add, "-g", "test", "-d", "the testbed")...)...)
	wantContains(t, "host add", r.stderr, "Trusted the host key", "occ is not installed on tb", "Added host tb")
	if kh, err := os.ReadFile(knownHosts); err != nil || !strings.Contains(string(kh), sshd.KnownHostsLine()) {
		t.Errorf("known_hosts: want %q in it, got %q (%v)", sshd.KnownHostsLine(), kh, err)
	}
	if r := occ(add...); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("a second host add of tb: want 'already exists', got %s", r)
	}

	if got := mustOK("host", "list", "--names-only").stdout; got != "tb\n" {
		t.Errorf("host list --names-only = %q, want tb", got)
	}
	if got := mustOK("host", "list", "-g", "other", "--names-only").stdout; got != "" {
		t.Errorf("host list -g other = %q, want nothing", got)
	}
	wantContains(t, "host list", mustOK("host", "list").stdout, "tb", "127.0.0.1", port, "the testbed")
	var shown struct {
		Name   string   `json:"name"`
		Port   int      `json:"port"`
		Groups []string `json:"groups"`
	}
	if err := json.Unmarshal([]byte(mustOK("host", "show", "tb", "--json").stdout), &shown); err != nil || shown.Name != "tb" || shown.Port != sshd.Port || len(shown.Groups) != 1 {
		t.Errorf("host show --json: %+v (%v)", shown, err)
	}

	// The remote has no occ: refused without --yes, then installed by host test --yes.
	r = occ("--remote-host", "tb", "status")
	if r.code == 0 {
		t.Fatalf("status on a remote without occ succeeded: %s", r)
	}
	wantContains(t, "no remote occ", r.stderr, "occ is not installed on tb", "--yes")
	r = mustOK("host", "test", "tb", "--yes")
	wantContains(t, "host test", r.stderr, "Installed occ", "Host tb works")
	wantContains(t, "host test", r.stdout, "[tb] occ:")
	if st, err := os.Stat(filepath.Join(sshd.Home, ".local", "bin", "occ")); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("occ not installed in the remote's ~/.local/bin: %v", err)
	}

	// Commands run remotely, with the remote's config and their exit codes.
	r = mustOK("--remote-host", "tb", "config", "get", "opencode_web_port")
	if want := "[tb] " + strconv.Itoa(f.cfg.OpencodeWebPort) + "\n"; r.stdout != want {
		t.Errorf("remote config get = %q, want %q", r.stdout, want)
	}
	for _, args := range [][]string{{"config", "get", "no_such_key"}, {"status"}} {
		here, there := f.occ(args...), occ(append([]string{"--remote-host", "tb"}, args...)...)
		if here.code != there.code {
			t.Errorf("occ %v: exit %d here, %d remotely:\n%s", args, here.code, there.code, there)
		}
	}
	if r := occ("--remote-host", "tb", "config", "get", "no_such_key"); r.code == 0 || !strings.HasPrefix(r.stderr, "[tb] ") {
		t.Errorf("remote config get no_such_key: want a failure prefixed [tb], got %s", r)
	}

	// The other sshd takes the same user key from now on.
	pub, err := os.ReadFile(sshd.UserKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other.Dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}

	// On a terminal, an unknown host key is shown with its SHA256
	// fingerprint and trusted on "y"; the offer to copy occ may be declined.
	otherKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(other.HostKeyPub))
	if err != nil {
		t.Fatal(err)
	}
	// No config file here: `host` runs on this machine and needs none, so
	// the first-run wizard must stay away (it did not, once).
	p := startPTY(t, local.Env, f.bin, "host", "add", "o", "127.0.0.1", "-p", strconv.Itoa(other.Port), "-u", sshd.User, "-i", sshd.UserKey)
	p.expect(ssh.FingerprintSHA256(otherKey))
	p.expect("Trust this key and connect")
	p.send("y\r")
	p.expect("Copy this occ")
	p.send("n\r")
	p.expect("Added host o")
	p.expect(`Add a "Host o" block`) // ~/.ssh/config: default no
	p.send("\r")
	waitPTY(t, p)
	mustOK("host", "remove", "o", "-f")

	// Through a jump host (the other sshd): both host keys checked.
	mustOK("--accept-new-host-key", "host", "add", "viajump", "127.0.0.1", "-p", port, "-u", sshd.User, "-i", sshd.UserKey,
		"-J", sshd.User+"@"+other.Addr)
	if got := mustOK("--remote-host", "viajump", "config", "get", "opencode_web_port").stdout; got != "[viajump] "+strconv.Itoa(f.cfg.OpencodeWebPort)+"\n" {
		t.Errorf("config get through the jump host = %q", got)
	}
	if kh, err := os.ReadFile(knownHosts); err != nil || !strings.Contains(string(kh), other.KnownHostsLine()) {
		t.Errorf("known_hosts: want the jump host's %q in it, got %q (%v)", other.KnownHostsLine(), kh, err)
	}
	mustOK("host", "remove", "viajump", "-f")

	// An older occ that occ installed itself: refused without --yes, then
	// replaced by host test --yes. (A script that reports an old version
	// stands in for an old release.)
	remoteOcc := filepath.Join(sshd.Home, ".local", "bin", "occ")
	if err := os.WriteFile(remoteOcc, []byte("#!/bin/sh\necho 'occ 0.0.1 (commit old)'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r = occ("--remote-host", "tb", "config", "get", "opencode_web_port")
	if r.code == 0 {
		t.Fatalf("a remote command ran on an older occ without --yes: %s", r)
	}
	wantContains(t, "older remote occ", r.stderr, "occ 0.0.1 on tb", "is older than this occ", "--yes")
	wantContains(t, "update the remote occ", mustOK("host", "test", "tb", "--yes").stderr, "Installed occ")

	// One lifecycle: the fixture's sandbox started and stopped remotely.
	f.importImage(meta.Provenance{Source: meta.SourcePrebuilt, Registry: rtTestbed(t).registry,
		Repository: rtTestbed(t).registry + "/test/runtime-app", ImageVersion: meta.Version, AcquiredAt: time.Now().UTC()})
	mustOK("--remote-host", "tb", "start")
	if st := f.statusJSON()["state"]; st != "running" {
		t.Errorf("after a remote start the sandbox is %v", st)
	}
	mustOK("--remote-host", "tb", "stop")
	if st := f.statusJSON()["state"]; st == "running" {
		t.Errorf("after a remote stop the sandbox is %v", st)
	}

	// On a terminal the remote command gets one: its password prompts work.
	p = startPTY(t, local.Env, f.bin, "--remote-host", "tb", "user", "add", "bob")
	p.expect("Password: ")
	p.send("remote-horse-battery-42\r")
	p.expect("Confirm password: ")
	p.send("remote-horse-battery-42\r")
	p.expect("Added user bob")
	waitPTY(t, p)
	if _, err := runtime.ReadUserRecord(filepath.Join(f.paths.VolumesDir(), runtime.UsersVolume), "bob"); err != nil {
		t.Errorf("the user added remotely has no record on the remote: %v", err)
	}

	// default_host sends commands there; --local keeps one here.
	mustOK("host", "default", "tb")
	if got := mustOK("host", "default").stdout; got != "tb\n" {
		t.Errorf("host default = %q", got)
	}
	if got := mustOK("config", "get", "opencode_web_port").stdout; !strings.HasPrefix(got, "[tb] ") {
		t.Errorf("with default_host tb, config get ran here: %q", got)
	}
	if got := mustOK("--local", "config", "get", "opencode_web_port").stdout; got != "3000\n" {
		t.Errorf("--local config get = %q, want this machine's 3000", got)
	}

	mustOK("host", "edit", "tb", "-d", "", "--add-group", "g2", "--remove-group", "test")
	wantContains(t, "host show after edit", mustOK("host", "show", "tb").stdout, "Groups:        g2", "Description:   -")

	if r := occ("host", "remove", "tb"); r.code == 0 {
		t.Errorf("host remove without a terminal or -f succeeded: %s", r)
	}
	r = mustOK("host", "remove", "tb", "-f")
	wantContains(t, "host remove", r.stderr, "was the default host")
	if got := mustOK("host", "list", "--names-only").stdout; got != "" {
		t.Errorf("after remove, host list = %q", got)
	}
}

// waitPTY waits for the command on p to exit 0.
func waitPTY(t *testing.T, p *ptyTerm) {
	t.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("occ on a terminal: %v\n%s", p.err, p.screen())
		}
	case <-time.After(expectTimeout):
		t.Fatalf("occ on a terminal did not end:\n%s", p.screen())
	}
}
