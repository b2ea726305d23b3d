package service

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// notifySocket listens on a unixgram socket as systemd does and points
// NOTIFY_SOCKET at it; messages come out of the returned channel.
func notifySocket(t *testing.T, watchdog time.Duration) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	if watchdog > 0 {
		t.Setenv("WATCHDOG_USEC", strconv.FormatInt(watchdog.Microseconds(), 10))
		t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	} else {
		t.Setenv("WATCHDOG_USEC", "")
		os.Unsetenv("WATCHDOG_USEC")
	}
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return msgs
}

func next(t *testing.T, msgs <-chan string) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no notify message within 5s")
		return ""
	}
}

// The sequence systemd sees from `occ start --no-daemon`: nothing while
// the sandbox does not answer, READY=1 once it does, WATCHDOG=1 at half of
// WATCHDOG_USEC while the check passes, no ping but a STATUS line while
// it fails, and STOPPING=1 on shutdown.
func TestNotifierSupervise(t *testing.T) {
	msgs := notifySocket(t, 200*time.Millisecond)
	readyPoll = 20 * time.Millisecond
	t.Cleanup(func() { readyPoll = time.Second })

	n, err := NewNotifier()
	if err != nil {
		t.Fatal(err)
	}
	if got := n.WatchdogInterval(); got != 100*time.Millisecond {
		t.Fatalf("watchdog interval %v, want 100ms (half of WATCHDOG_USEC)", got)
	}
	// checks 1-3 fail (starting), 4-6 pass, 7-8 fail, then pass.
	var calls atomic.Int32
	healthy := func(context.Context) error {
		switch c := calls.Add(1); {
		case c <= 3, c == 7, c == 8:
			return errors.New("Unhealthy (HTTP 503)")
		}
		return nil
	}
	stop := n.Supervise(context.Background(), "sandbox answers on http://127.0.0.1:3000", healthy)

	want := []string{
		"READY=1\nSTATUS=sandbox answers on http://127.0.0.1:3000",
		"WATCHDOG=1",
		"WATCHDOG=1",
		"STATUS=health check failing: Unhealthy (HTTP 503)",
		"STATUS=health check failing: Unhealthy (HTTP 503)",
		"STATUS=health check passes again",
		"WATCHDOG=1",
	}
	for i, w := range want {
		if got := next(t, msgs); got != w {
			t.Fatalf("message %d: %q, want %q", i, got, w)
		}
	}
	stop("stopping the sandbox\nnow")
	stop("a second stop sends nothing")
	var last string
	for m := next(t, msgs); ; m = next(t, msgs) {
		if m != "WATCHDOG=1" { // one may be in flight
			last = m
			break
		}
	}
	if last != "STOPPING=1\nSTATUS=stopping the sandbox now" {
		t.Fatalf("last message %q, want STOPPING=1 with a one-line STATUS", last)
	}
	select {
	case m := <-msgs:
		t.Fatalf("message after STOPPING: %q", m)
	case <-time.After(300 * time.Millisecond):
	}
}

// Without a watchdog Supervise still sends READY=1 and STOPPING=1; with
// no NOTIFY_SOCKET it sends nothing and never calls the health check.
func TestNotifierWithoutWatchdogOrSocket(t *testing.T) {
	t.Run("no watchdog", func(t *testing.T) {
		msgs := notifySocket(t, 0)
		n, err := NewNotifier()
		if err != nil {
			t.Fatal(err)
		}
		if n.WatchdogInterval() != 0 {
			t.Fatalf("watchdog interval %v without WATCHDOG_USEC", n.WatchdogInterval())
		}
		stop := n.Supervise(context.Background(), "ready", func(context.Context) error { return nil })
		if got := next(t, msgs); got != "READY=1\nSTATUS=ready" {
			t.Fatalf("got %q", got)
		}
		stop("bye")
		if got := next(t, msgs); got != "STOPPING=1\nSTATUS=bye" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("no socket", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "")
		os.Unsetenv("NOTIFY_SOCKET")
		t.Setenv("WATCHDOG_USEC", "1000000")
		n, err := NewNotifier()
		if err != nil {
			t.Fatal(err)
		}
		if n.Enabled() || n.WatchdogInterval() != 0 {
			t.Fatalf("enabled %v, interval %v without NOTIFY_SOCKET", n.Enabled(), n.WatchdogInterval())
		}
		called := false
		n.Supervise(context.Background(), "x", func(context.Context) error { called = true; return nil })("y")
		if err := n.Ready("x"); err != nil || called {
			t.Fatalf("Ready: %v; health called: %v", err, called)
		}
	})
	t.Run("bad WATCHDOG_USEC", func(t *testing.T) {
		notifySocket(t, 0)
		t.Setenv("WATCHDOG_USEC", "soon")
		if _, err := NewNotifier(); err == nil || !strings.Contains(err.Error(), "WATCHDOG_USEC") {
			t.Fatalf("err %v, want one naming WATCHDOG_USEC", err)
		}
	})
}
