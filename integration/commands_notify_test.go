//go:build integration

package integration

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCommandsStartNotify: `occ start --no-daemon` under a Type=notify
// unit, with systemd's side played by a unixgram socket: READY=1 only
// once the sandbox answers, then WATCHDOG=1 at half of WATCHDOG_USEC, and
// STOPPING=1 on SIGTERM.
func TestCommandsStartNotify(t *testing.T) {
	e := rtTestbed(t)
	rtAppImage(t, e) // published at test/runtime-app:latest
	f := newCmdFixture(t, nil)
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	next := func(within time.Duration) string {
		t.Helper()
		select {
		case m := <-msgs:
			return m
		case <-time.After(within):
			t.Fatalf("no notify message within %s", within)
			return ""
		}
	}

	sup := f.command("start", "--no-daemon", "--yes")
	sup.Env = append(sup.Env, "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=2000000")
	var supErr bytes.Buffer
	sup.Stderr = &supErr
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	ready := next(3 * time.Minute)
	if !strings.HasPrefix(ready, "READY=1\nSTATUS=the sandbox answers on ") {
		t.Fatalf("first message %q, want READY=1 with a STATUS line\n%s", ready, supErr.String())
	}
	if r := f.occ("status", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"Healthy"`) {
		t.Errorf("READY=1 before the sandbox answers its health check: %s", r)
	}
	start := time.Now()
	for range 2 {
		if m := next(5 * time.Second); m != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1 pings", m)
		}
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("two watchdog pings took %s, want about 2 s (half of WATCHDOG_USEC each)", d)
	}
	if err := sup.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		m := next(30 * time.Second)
		if m == "WATCHDOG=1" {
			continue // one may have been on its way
		}
		if m != "STOPPING=1\nSTATUS=stopping the sandbox" {
			t.Fatalf("after SIGTERM: %q, want STOPPING=1", m)
		}
		break
	}
	if err := waitExit(sup, 45*time.Second); err != nil {
		t.Errorf("start --no-daemon after SIGTERM: %v\n%s", err, supErr.String())
	}
}
