package service

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// WatchdogSec is the unit's WatchdogSec: systemd restarts the service
// (Restart=on-failure) when no WATCHDOG=1 came for this long. The
// notifier pings at half of it while the sandbox's health check passes,
// so two failed checks in a row are tolerated (the check itself times
// out after 5 s).
const WatchdogSec = 60

// Notifier speaks systemd's notify protocol (sd_notify(3)) for
// `occ start --no-daemon` in a Type=notify unit: READY=1 once the sandbox
// answers its health check, WATCHDOG=1 while it keeps answering,
// STOPPING=1 on shutdown, and STATUS= lines systemctl status shows.
// Outside systemd (no NOTIFY_SOCKET) every method does nothing.
type Notifier struct {
	socket   bool          // NOTIFY_SOCKET is set
	interval time.Duration // between WATCHDOG=1 pings; 0 when the watchdog is off
}

// NewNotifier reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID from
// the environment systemd gave the process.
func NewNotifier() (*Notifier, error) {
	n := &Notifier{socket: os.Getenv("NOTIFY_SOCKET") != ""}
	if !n.socket {
		return n, nil
	}
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return n, fmt.Errorf("systemd watchdog settings (WATCHDOG_USEC=%q, WATCHDOG_PID=%q): %w",
			os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), err)
	}
	n.interval = wd / 2
	return n, nil
}

// Enabled reports whether systemd listens (NOTIFY_SOCKET is set).
func (n *Notifier) Enabled() bool { return n != nil && n.socket }

// WatchdogInterval is how often Watch pings: half of WATCHDOG_USEC, or 0
// when systemd set no watchdog for this process.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil {
		return 0
	}
	return n.interval
}

func (n *Notifier) send(lines ...string) error {
	if !n.Enabled() {
		return nil
	}
	sent, err := daemon.SdNotify(false, strings.Join(lines, "\n"))
	if err != nil {
		return fmt.Errorf("notify systemd (%s): %w", lines[0], err)
	}
	if !sent {
		return fmt.Errorf("notify systemd (%s): NOTIFY_SOCKET %q was not usable", lines[0], os.Getenv("NOTIFY_SOCKET"))
	}
	return nil
}

// status makes one STATUS= line of s (the protocol is line based).
func status(s string) string {
	return "STATUS=" + strings.ReplaceAll(s, "\n", " ")
}

// Ready says the service answers: READY=1 with a STATUS line.
func (n *Notifier) Ready(msg string) error {
	return n.send(daemon.SdNotifyReady, status(msg))
}

// Status sends a STATUS line alone.
func (n *Notifier) Status(msg string) error {
	return n.send(status(msg))
}

// Stopping says the service is shutting down: STOPPING=1 with a STATUS
// line.
func (n *Notifier) Stopping(msg string) error {
	return n.send(daemon.SdNotifyStopping, status(msg))
}

// Watch pings the watchdog every WatchdogInterval while healthy returns
// nil, until ctx ends. A failed check sends no ping (systemd restarts the
// service once WatchdogSec passes without one) but a STATUS line with the
// reason, and a later passing check says so again. Without a watchdog
// Watch returns at once.
func (n *Notifier) Watch(ctx context.Context, healthy func(context.Context) error) {
	if n.WatchdogInterval() <= 0 {
		return
	}
	tick := time.NewTicker(n.interval)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := healthy(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			failing = true
			_ = n.Status(fmt.Sprintf("health check failing: %v", err))
			continue
		}
		if failing {
			failing = false
			_ = n.Status("health check passes again")
		}
		_ = n.send(daemon.SdNotifyWatchdog)
	}
}

// readyPoll is how often Supervise checks health before READY=1.
var readyPoll = time.Second

// Supervise runs the notify protocol beside a supervision loop: in the
// background it waits until healthy passes, sends READY=1 with msg, then
// pings the watchdog (Watch) until ctx ends or stop is called. stop sends
// STOPPING=1 with its message (once; later calls do nothing) and waits
// for the background work to end. Outside systemd it does nothing.
func (n *Notifier) Supervise(ctx context.Context, msg string, healthy func(context.Context) error) (stop func(msg string)) {
	if !n.Enabled() {
		return func(string) {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(readyPoll)
		defer tick.Stop()
		for healthy(ctx) != nil {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
		_ = n.Ready(msg)
		n.Watch(ctx, healthy)
	}()
	var once sync.Once
	return func(msg string) {
		once.Do(func() {
			cancel()
			<-done
			_ = n.Stopping(msg)
		})
	}
}
