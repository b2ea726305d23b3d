package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/pkg/runtime"
)

// userEnv isolates config and data and points occ at a containerd socket
// that does not exist: the sandbox counts as unreachable, so every change
// is recorded for the next start.
func userEnv(t *testing.T) (usersDir string) {
	t.Helper()
	cfgFile := occEnv(t)
	t.Setenv("CONTAINERD_ADDRESS", filepath.Join(t.TempDir(), "no-containerd.sock"))
	t.Setenv("OPENCODE_PASSWORD_LENGTH", "")
	return filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(cfgFile))), "data", "opencode-cloud", "volumes", runtime.UsersVolume)
}

func configUsers(t *testing.T) []string {
	t.Helper()
	code, out, errOut := occ(t, "", "config", "get", "users")
	if code != 0 {
		t.Fatalf("config get users: %d %s", code, errOut)
	}
	if strings.TrimSpace(out) == "(none)" {
		return nil
	}
	return strings.Fields(strings.ReplaceAll(out, ",", " "))
}

// A password as people type them: quotes, shell metacharacters, ':', '\',
// spaces and non-ASCII.
const trickyPassword = `p@ss "w0rd" it's $HOME $(id) ` + "`id`" + `; a:b \ ünï`

func TestUserCommands(t *testing.T) {
	dir := userEnv(t)
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		wantOut  string // regexp on stdout
		wantErr  string // substring of stderr
		check    func(t *testing.T)
	}{
		{name: "list empty", args: []string{"user", "list"}, wantErr: "No users yet"},
		{name: "bad name", args: []string{"user", "add", "Alice"}, stdin: "x\n", wantCode: 1, wantErr: "not a valid username"},
		{name: "name with a shell metacharacter", args: []string{"user", "add", "a;id"}, stdin: "x\n", wantCode: 1, wantErr: "not a valid username"},
		{name: "name too long", args: []string{"user", "add", strings.Repeat("a", 33)}, stdin: "x\n", wantCode: 1, wantErr: "not a valid username"},
		{name: "reserved name", args: []string{"user", "add", "root"}, stdin: "x\n", wantCode: 1, wantErr: "account of the sandbox image"},
		{name: "reserved opencoder", args: []string{"user", "add", "opencoder"}, stdin: "x\n", wantCode: 1, wantErr: "account of the sandbox image"},
		{name: "no password on stdin", args: []string{"user", "add", "alice"}, wantCode: 1, wantErr: "no password given on stdin"},
		{name: "password too long", args: []string{"user", "add", "alice"}, stdin: strings.Repeat("p", runtime.MaxPasswordBytes+1) + "\n", wantCode: 1, wantErr: "at most 256"},
		{name: "100 KB password", args: []string{"user", "add", "alice"}, stdin: strings.Repeat("p", 100<<10) + "\n", wantCode: 1, wantErr: "longer than"},
		{name: "stdin that never ends", args: []string{"user", "add", "alice"}, stdin: strings.Repeat("\x00", 1<<20), wantCode: 1, wantErr: "longer than"},
		{name: "password not on argv", args: []string{"user", "add", "alice", "secret"}, wantCode: 2, wantErr: "unexpected argument"},
		{name: "print-password-only alone", args: []string{"user", "add", "alice", "--print-password-only"}, stdin: "x\n", wantCode: 1, wantErr: "needs --generate"},
		{name: "add alice", args: []string{"user", "add", "alice"}, stdin: trickyPassword + "\r\n", wantErr: "takes effect when it next starts",
			check: func(t *testing.T) {
				r, err := runtime.ReadUserRecord(dir, "alice")
				if err != nil {
					t.Fatal(err)
				}
				if !runtime.VerifyPassword(r.PasswordHash, trickyPassword) || r.Locked {
					t.Fatalf("record %+v does not hold the password as typed", r)
				}
				st, err := os.Stat(filepath.Join(dir, "alice.json"))
				if err != nil || st.Mode().Perm() != 0o600 {
					t.Fatalf("record mode: %v %v", st, err)
				}
				if got := configUsers(t); len(got) != 1 || got[0] != "alice" {
					t.Fatalf("config users = %q", got)
				}
			}},
		{name: "add alice again", args: []string{"user", "add", "alice"}, stdin: "x\n", wantCode: 1, wantErr: "already exists"},
		{name: "list alice", args: []string{"user", "list"}, wantOut: `(?m)^alice\s+enabled\s+-\s+-\s+-$`},
		{name: "remove the last user", args: []string{"user", "remove", "alice"}, wantCode: 1, wantErr: "last user"},
		{name: "disable", args: []string{"user", "disable", "alice"}, wantErr: "Disabled user alice"},
		{name: "disable again", args: []string{"user", "disable", "alice"}, wantErr: "already disabled"},
		{name: "list disabled", args: []string{"user", "list"}, wantOut: `(?m)^alice\s+disabled\s+-\s+-\s+-$`},
		{name: "passwd keeps the lock", args: []string{"user", "passwd", "alice"}, stdin: "new one\n", wantErr: "Set the password of alice",
			check: func(t *testing.T) {
				r, err := runtime.ReadUserRecord(dir, "alice")
				if err != nil || !r.Locked || !runtime.VerifyPassword(r.PasswordHash, "new one") {
					t.Fatalf("after passwd: %+v %v", r, err)
				}
			}},
		{name: "enable", args: []string{"user", "enable", "alice"}, wantErr: "Enabled user alice"},
		{name: "passwd of a stranger", args: []string{"user", "passwd", "zed"}, stdin: "x\n", wantCode: 1, wantErr: "does not exist"},
		{name: "enable a stranger", args: []string{"user", "enable", "zed"}, wantCode: 1, wantErr: "does not exist"},
		{name: "add bob generated", args: []string{"user", "add", "bob", "--generate", "--print-password-only"}, wantOut: `^[A-Za-z0-9]{30}\n$`},
		{name: "generated shown once", args: []string{"user", "passwd", "bob", "-g"}, wantOut: `^Password for bob: [A-Za-z0-9]{30}\n$`},
		{name: "quiet list", args: []string{"-q", "user", "list"}, wantOut: `^alice\nbob\n$`},
		{name: "remove needs a terminal or --force", args: []string{"user", "remove", "bob"}, wantCode: 1, wantErr: "--force"},
		{name: "remove bob", args: []string{"user", "rm", "bob", "--force"}, wantErr: "Removed user bob",
			check: func(t *testing.T) {
				if _, err := os.Stat(filepath.Join(dir, "bob.json")); !os.IsNotExist(err) {
					t.Fatalf("bob's record still there: %v", err)
				}
				if got := configUsers(t); len(got) != 1 || got[0] != "alice" {
					t.Fatalf("config users = %q", got)
				}
			}},
		{name: "remove a stranger", args: []string{"user", "remove", "bob", "--force"}, wantCode: 1, wantErr: "does not exist"},
		{name: "remove the last user with --force", args: []string{"user", "remove", "alice", "--force"}, wantErr: "no users left",
			check: func(t *testing.T) {
				if got := configUsers(t); len(got) != 0 {
					t.Fatalf("config users = %q", got)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := occ(t, tc.stdin, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, out, errOut)
			}
			if tc.wantOut != "" && !regexp.MustCompile(tc.wantOut).MatchString(out) {
				t.Errorf("stdout %q does not match %s", out, tc.wantOut)
			}
			if !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("stderr %q lacks %q", errOut, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
}
