package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
)

// Readiness parameters (upstream's wait_for_service_ready).
const (
	ReadyTimeout      = 60 * time.Second
	ReadyInterval     = 500 * time.Millisecond
	ReadyConnects     = 3
	ReadyLogLines     = 20
	readyDialTimeout  = time.Second
	readyScanInterval = time.Second
)

// FatalLogPatterns in the newest log lines fail readiness at once
// (matched case-insensitively).
var FatalLogPatterns = []string{
	"exec opencode failed",
	"exec failed",
	"[fatal tini",
	"no such file or directory",
	"permission denied",
	"cannot execute binary",
}

// ReadyOptions tune WaitReady; zero values take the defaults above.
type ReadyOptions struct {
	Timeout  time.Duration
	Interval time.Duration
	Connects int
	// Progress, if set, is called with the consecutive successes so far.
	Progress func(ok, needed int, elapsed time.Duration)
}

// NotReadyError is a readiness failure with the newest log lines.
type NotReadyError struct {
	Reason   string
	LogLines []string
	LogPath  string
}

func (e *NotReadyError) Error() string {
	var b strings.Builder
	b.WriteString(e.Reason)
	if len(e.LogLines) > 0 {
		fmt.Fprintf(&b, "\nlast %d log lines (%s):", len(e.LogLines), e.LogPath)
		for _, l := range e.LogLines {
			b.WriteString("\n  " + l)
		}
	}
	b.WriteString("\ncheck the full log with: occ logs")
	return b.String()
}

func (e *NotReadyError) Unwrap() error { return errdefs.ErrUnavailable }

// WaitReady waits until the published port accepts ReadyConnects TCP
// connections in a row (one per Interval), within Timeout. Every second it
// scans the newest log lines for FatalLogPatterns and checks that the task
// still runs, failing fast with those lines when either goes wrong.
func (s *Sandbox) WaitReady(ctx context.Context, opts ReadyOptions) error {
	if opts.Timeout <= 0 {
		opts.Timeout = ReadyTimeout
	}
	if opts.Interval <= 0 {
		opts.Interval = ReadyInterval
	}
	if opts.Connects <= 0 {
		opts.Connects = ReadyConnects
	}
	st, err := s.Status(ctx)
	if err != nil {
		return err
	}
	published := st.Published
	if published == "" {
		published = s.PublishedAddress()
	}
	addr := ProbeAddress(published)
	fail := func(reason string) error {
		lines, _ := s.LastLogLines(ctx, ReadyLogLines)
		return &NotReadyError{Reason: reason, LogLines: lines, LogPath: st.LogPath}
	}
	start := time.Now()
	deadline := start.Add(opts.Timeout)
	var lastScan time.Time
	ok := 0
	for {
		if time.Since(lastScan) >= readyScanInterval {
			lastScan = time.Now()
			if lines, err := s.LastLogLines(ctx, ReadyLogLines); err == nil {
				if l, hit := fatalLine(linesSince(s.logBeforeStart, lines)); hit {
					return &NotReadyError{Reason: fmt.Sprintf("fatal error in the container log: %q", l), LogLines: lines, LogPath: st.LogPath}
				}
			}
			if exited, code := s.taskExited(ctx); exited {
				return fail(fmt.Sprintf("the container exited (code %d) before it became ready", code))
			}
		}
		if probeTCP(addr) {
			ok++
		} else {
			ok = 0
		}
		if opts.Progress != nil {
			opts.Progress(ok, opts.Connects, time.Since(start))
		}
		if ok >= opts.Connects {
			return nil
		}
		if time.Now().After(deadline) {
			return fail(fmt.Sprintf("the service did not become ready within %s (no answer on %s)", opts.Timeout, addr))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(opts.Interval):
		}
	}
}

func (s *Sandbox) taskExited(ctx context.Context) (bool, uint32) {
	c, err := s.container(ctx)
	if err != nil {
		return true, 0
	}
	t, err := c.Task(s.ctx(ctx), nil)
	if err != nil {
		return true, 0
	}
	st, err := t.Status(s.ctx(ctx))
	if err != nil {
		return false, 0
	}
	return st.Status == containerd.Stopped, st.ExitStatus
}

// linesSince returns the lines of tail (the log's newest lines now) that
// were not yet in before (its newest lines when this occ started the
// task): the log only grows, so tail is a suffix of before followed by
// the new lines. The longest overlap is taken; no overlap (rotated, or
// more new lines than the tail holds): all of tail is new. A fatal line an
// earlier task left (an occ killed while it created one) then does not
// fail this start's readiness.
func linesSince(before, tail []string) []string {
	for k := min(len(before), len(tail)); k > 0; k-- {
		if slices.Equal(tail[:k], before[len(before)-k:]) {
			return tail[k:]
		}
	}
	return tail
}

func fatalLine(lines []string) (string, bool) {
	for _, l := range lines {
		low := strings.ToLower(l)
		for _, p := range FatalLogPatterns {
			if strings.Contains(low, p) {
				return l, true
			}
		}
	}
	return "", false
}

func probeTCP(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, readyDialTimeout)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// HealthState is the outcome of a health check.
type HealthState string

const (
	Healthy     HealthState = "Healthy"
	Starting    HealthState = "Service starting..."
	Unhealthy   HealthState = "Unhealthy"
	CheckFailed HealthState = "Check failed"
)

// HealthTimeout bounds the health request.
const HealthTimeout = 5 * time.Second

// Health is the answer of GET /global/health.
type Health struct {
	State      HealthState
	HTTPStatus int   // for Unhealthy
	Err        error // for CheckFailed and Starting
}

func (h Health) String() string {
	if h.State == Unhealthy {
		return fmt.Sprintf("Unhealthy (HTTP %d)", h.HTTPStatus)
	}
	return string(h.State)
}

// Health asks opencode's own health endpoint on the published address.
func (s *Sandbox) Health(ctx context.Context) Health {
	st, err := s.Status(ctx)
	if err != nil {
		st = Status{}
	}
	return s.HealthOf(ctx, st)
}

// HealthOf is Health for a Status already read: the probe goes to the
// address the container was published on (st.Published), or the
// configured one.
func (s *Sandbox) HealthOf(ctx context.Context, st Status) Health {
	published := s.PublishedAddress()
	if st.Published != "" {
		published = st.Published
	}
	return CheckHealth(ctx, ProbeAddress(published))
}

// CheckHealth sends GET http://addr/global/health with HealthTimeout:
// 200 is Healthy, refused or timed out is Starting, another status is
// Unhealthy (HTTP n), anything else Check failed.
func CheckHealth(ctx context.Context, addr string) Health {
	ctx, cancel := context.WithTimeout(ctx, HealthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/global/health", nil)
	if err != nil {
		return Health{State: CheckFailed, Err: err}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ne net.Error
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return Health{State: Starting, Err: err}
		}
		return Health{State: CheckFailed, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return Health{State: Healthy, HTTPStatus: resp.StatusCode}
	}
	return Health{State: Unhealthy, HTTPStatus: resp.StatusCode}
}
