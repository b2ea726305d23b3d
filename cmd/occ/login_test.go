package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoginCommand: occ login reads the password from stdin with
// --password-stdin (never argv), refuses to read it off a terminal
// without the flag, stores working credentials in $DOCKER_CONFIG and
// nothing for refused ones; occ logout removes them.
func TestLoginCommand(t *testing.T) {
	occEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "bob" || p != "tok3n" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK) // GET /v2/
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	cfg := filepath.Join(dir, "config.json")
	stored := func() string { b, _ := os.ReadFile(cfg); return string(b) }

	tests := []struct {
		name    string
		stdin   string
		args    []string
		code    int
		errText string
		stored  bool
	}{
		{"no --password-stdin off a terminal", "tok3n\n", []string{"login", "-u", "bob", host}, 1, "--password-stdin", false},
		{"no user name", "tok3n\n", []string{"login", "--password-stdin", host}, 1, "-u NAME", false},
		{"wrong token", "nope\n", []string{"login", "-u", "bob", "--password-stdin", host}, 1, "refused", false},
		{"empty stdin", "", []string{"login", "-u", "bob", "--password-stdin", host}, 1, "no password", false},
		{"not a registry", "tok3n\n", []string{"login", "-u", "bob", "--password-stdin", host + "/repo"}, 1, "not a registry host", false},
		{"ok", "tok3n\n", []string{"login", "-u", "bob", "--password-stdin", host}, 0, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := occ(t, tc.stdin, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.errText) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.errText)
			}
			if got := strings.Contains(stored(), host); got != tc.stored {
				t.Fatalf("credentials stored: %v, want %v: %s", got, tc.stored, stored())
			}
			if strings.Contains(errOut, "tok3n") {
				t.Fatalf("the password was printed: %q", errOut)
			}
		})
	}
	if code, _, errOut := occ(t, "", "logout", host); code != 0 || strings.Contains(stored(), host) {
		t.Fatalf("logout: %d %q; config %s", code, errOut, stored())
	}
	if code, _, errOut := occ(t, "", "logout", host); code != 0 || !strings.Contains(errOut, "Not logged in") {
		t.Fatalf("second logout: %d %q", code, errOut)
	}
}
