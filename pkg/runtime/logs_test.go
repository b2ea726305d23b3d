package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

func TestTailOffset(t *testing.T) {
	tests := []struct {
		content string
		n       int
		want    string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc\n", 0, "a\nb\nc\n"},
		{"a\nb\nc\n", 5, "a\nb\nc\n"},
		{"a\nb\nc", 1, "c"},
		{"a\nb\nc", 2, "b\nc"},
		{"", 3, ""},
		{"\n\n", 1, "\n"},
		{strings.Repeat("x", 100000) + "\n" + strings.Repeat("y", 70000) + "\n", 1, strings.Repeat("y", 70000) + "\n"},
	}
	for i, tt := range tests {
		p := filepath.Join(t.TempDir(), "log")
		if err := os.WriteFile(p, []byte(tt.content), 0o644); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := followFile(context.Background(), p, LogOptions{Tail: tt.n}, &b, nil); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("%d: tail %d of %.20q = %.20q, want %.20q", i, tt.n, tt.content, b.String(), tt.want)
		}
	}
}

func TestFollowFileSurvivesRotation(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var running atomic.Bool
	running.Store(true)
	var mu sync.Mutex
	var out bytes.Buffer
	w := writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(b) })
	done := make(chan error, 1)
	go func() {
		done <- followFile(context.Background(), p, LogOptions{PollInterval: 5 * time.Millisecond}, w, running.Load)
	}()
	waitFor := func(s string) {
		t.Helper()
		for i := 0; i < 1000; i++ {
			mu.Lock()
			ok := strings.Contains(out.String(), s)
			mu.Unlock()
			if ok {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("never saw %q", s)
	}
	waitFor("one\n")
	appendFile(t, p, "two\n")
	waitFor("two\n")
	if err := rotateLog(p, 1); err != nil { // copy to .1 and truncate
		t.Fatal(err)
	}
	appendFile(t, p, "three\n")
	waitFor("three\n")
	running.Store(false)
	appendFile(t, p, "last\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "one\ntwo\nthree\nlast\n" {
		t.Fatalf("followed %q", got)
	}
	if b, _ := os.ReadFile(p + ".1"); string(b) != "one\ntwo\n" {
		t.Fatalf("rotated file %q", b)
	}
}

func TestRotateLog(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "log")
	if err := rotateLog(p, 10); err != nil {
		t.Fatalf("missing file: %v", err)
	}
	os.WriteFile(p, []byte("12345"), 0o644)
	if err := rotateLog(p, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p + ".1"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("rotated under the limit")
	}
	os.WriteFile(p, []byte("0123456789abc"), 0o644)
	if err := rotateLog(p, 10); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p + ".1"); string(b) != "0123456789abc" {
		t.Fatalf(".1 = %q", b)
	}
	if st, _ := os.Stat(p); st.Size() != 0 {
		t.Fatalf("log not truncated: %d", st.Size())
	}
}

func TestFatalLine(t *testing.T) {
	tests := []struct {
		lines []string
		hit   bool
	}{
		{[]string{"starting", "listening"}, false},
		{[]string{"ok", "/usr/local/bin/entrypoint.sh: exec failed: x"}, true},
		{[]string{"[FATAL tini (7)] exec /x failed"}, true},
		{[]string{"open /foo: No Such File Or Directory"}, true},
	}
	for _, tt := range tests {
		if _, hit := fatalLine(tt.lines); hit != tt.hit {
			t.Errorf("fatalLine(%q) = %v", tt.lines, hit)
		}
	}
}

func TestCheckHealth(t *testing.T) {
	mk := func(code int, delay time.Duration) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/global/health" {
				http.NotFound(w, r)
				return
			}
			time.Sleep(delay)
			w.WriteHeader(code)
		}))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	closed := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		a := l.Addr().String()
		l.Close()
		return a
	}()
	tests := []struct {
		name string
		addr string
		ctx  func() (context.Context, context.CancelFunc)
		want string
	}{
		{"200", mk(200, 0), nil, "Healthy"},
		{"503", mk(503, 0), nil, "Unhealthy (HTTP 503)"},
		{"refused", closed, nil, "Service starting..."},
		{"timeout", mk(200, 300*time.Millisecond), func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, "Service starting..."},
		{"bad address", "not a host:x", nil, "Check failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.Background(), func() {}
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			if got := CheckHealth(ctx, tt.addr).String(); got != tt.want {
				t.Fatalf("CheckHealth = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestCheckPortFree(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	err = CheckPortFree("127.0.0.1", port)
	var pe *PortInUseError
	if !errors.As(err, &pe) || !errdefs.IsAlreadyExists(err) {
		t.Fatalf("CheckPortFree(taken) = %v", err)
	}
	if pe.Suggested <= port || pe.Suggested > port+100 {
		t.Fatalf("suggested %d for %d", pe.Suggested, port)
	}
	if !strings.Contains(err.Error(), "occ config set opencode_web_port "+strconv.Itoa(pe.Suggested)) {
		t.Fatalf("message %q", err)
	}
	// An instance's port: the hint names the instance's config.
	pe.Instance = "dev"
	if !strings.Contains(pe.Error(), "occ --sandbox-instance dev config set opencode_web_port "+strconv.Itoa(pe.Suggested)) {
		t.Fatalf("instance message %q", pe.Error())
	}
	l.Close()
	if err := CheckPortFree("127.0.0.1", port); err != nil {
		t.Fatalf("CheckPortFree(free) = %v", err)
	}
	if err := CheckPortFree("203.0.113.9", port); err == nil || errors.As(err, &pe) {
		t.Fatalf("CheckPortFree(foreign address) = %v, want a bind error", err)
	}
}

func TestNotReadyErrorShowsLines(t *testing.T) {
	e := &NotReadyError{Reason: "it died", LogLines: []string{"a", "b"}, LogPath: "/l"}
	want := "it died\nlast 2 log lines (/l):\n  a\n  b\ncheck the full log with: occ logs"
	if e.Error() != want || !errdefs.IsUnavailable(e) {
		t.Fatalf("%q", e.Error())
	}
	_ = fmt.Sprint(e)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}
