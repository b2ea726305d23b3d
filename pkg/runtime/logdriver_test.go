package runtime

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixedClock ticks one second per call; the stdout and stderr copiers
// call it from their own goroutines.
func fixedClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func TestCopyStreamsStampsLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "sandbox.log")
	w, err := openRotating(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", maxLogLine+10)
	streams := map[string]io.Reader{
		"stdout": strings.NewReader("hello\nworld\n" + long + "\nno newline at the end"),
		"stderr": strings.NewReader("oops\n"),
	}
	if err := copyStreams(context.Background(), w, streams, fixedClock()); err != nil {
		t.Fatal(err)
	}
	w.Close()
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var stdout []string
	for _, l := range lines {
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 {
			t.Fatalf("malformed line %q", l)
		}
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
			t.Fatalf("bad time in %q: %v", l, err)
		}
		switch f[1] {
		case "stdout":
			stdout = append(stdout, f[2])
		case "stderr":
			if f[2] != "oops" {
				t.Fatalf("stderr line %q", f[2])
			}
		default:
			t.Fatalf("stream %q", f[1])
		}
	}
	// The long line is split at maxLogLine; nothing is lost.
	want := []string{"hello", "world", long[:maxLogLine], long[maxLogLine:], "no newline at the end"}
	if strings.Join(stdout, "|") != strings.Join(want, "|") {
		t.Fatalf("stdout lines %d, want %d", len(stdout), len(want))
	}
}

func TestRotatingWriterStaysBounded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sandbox.log")
	const max = 4096
	w, err := openRotating(path, max)
	if err != nil {
		t.Fatal(err)
	}
	clock := fixedClock()
	for i := 0; i < 1000; i++ {
		if err := w.WriteLine(clock(), "stdout", []byte(strings.Repeat("y", 100))); err != nil {
			t.Fatal(err)
		}
	}
	last := []byte("the last line")
	if err := w.WriteLine(clock(), "stdout", last); err != nil {
		t.Fatal(err)
	}
	w.Close()
	for _, p := range []string{path, path + ".1"} {
		st, err := os.Stat(p)
		if err != nil || st.Size() > max {
			t.Fatalf("%s: %v, size %d > %d", p, err, st.Size(), max)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("want the log and one rotated file, got %d entries", len(entries))
	}
	data, _ := os.ReadFile(path)
	if !bytes.Contains(data, last) {
		t.Fatal("the newest line is not in the current file")
	}
}

func TestStampedWriter(t *testing.T) {
	in := "2026-11-27T12:00:01Z stdout hello world\n2026-11-27T12:00:02Z stderr oops\n2026-11-27T12:00:03Z stdout part"
	tests := []struct {
		timestamps bool
		want       string
	}{
		{false, "hello world\noops\npart\n"},
		{true, "2026-11-27T12:00:01Z hello world\n2026-11-27T12:00:02Z oops\n2026-11-27T12:00:03Z part\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		sw := &stampedWriter{w: &b, timestamps: tt.timestamps}
		// Feed in odd-sized pieces: lines may arrive split.
		for i := 0; i < len(in); i += 7 {
			if _, err := sw.Write([]byte(in[i:min(i+7, len(in))])); err != nil {
				t.Fatal(err)
			}
		}
		if err := sw.Flush(); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("timestamps=%v: got %q, want %q", tt.timestamps, b.String(), tt.want)
		}
	}
}

// Following survives the driver's rotation (the file is renamed away and a
// new one started): every line is printed once.
func TestFollowAcrossRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.log")
	if err := os.WriteFile(path, []byte("one\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out syncBuf
	running := make(chan bool, 1)
	running <- true
	alive := true
	done := make(chan error, 1)
	go func() {
		done <- followFile(ctx, path, LogOptions{PollInterval: 10 * time.Millisecond}, &out, func() bool {
			select {
			case v := <-running:
				alive = v
			default:
			}
			return alive
		})
	}()
	waitFor(t, func() bool { return out.String() == "one\n" })
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("two\n")
	f.Close()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("three\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return out.String() == "one\ntwo\nthree\n" })
	running <- false
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "one\ntwo\nthree\n" {
		t.Fatalf("followed %q", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
