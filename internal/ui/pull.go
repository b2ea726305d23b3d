package ui

import (
	"fmt"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/opencode-cloud/occ/pkg/ops"
	"github.com/opencode-cloud/occ/pkg/registry"
)

// PullProgress renders registry events: per-layer byte bars and a total
// with its speed when stderr is a terminal, a plain line every few seconds
// when not, nothing with -q (warnings still show).
type PullProgress struct {
	ui  *UI
	tty bool

	mu       sync.Mutex
	p        *mpb.Progress
	bars     map[digest.Digest]*mpb.Bar
	total    *mpb.Bar
	size     int64 // bytes of blobs to fetch
	known    bool  // size came from the manifest
	offsets  map[digest.Digest]int64
	done     int64
	started  time.Time
	lastLine time.Time
}

// plainInterval is how often a non-terminal pull prints a progress line.
const plainInterval = 5 * time.Second

// Pull renders a pull's events on u.
func (u *UI) Pull() ops.PullSink { return u.NewPullProgress() }

// NewPullProgress renders a pull's events on u.
func (u *UI) NewPullProgress() *PullProgress {
	return &PullProgress{ui: u, tty: !u.Quiet && IsTerminal(u.Err),
		bars: map[digest.Digest]*mpb.Bar{}, offsets: map[digest.Digest]int64{}, started: time.Now(), lastLine: time.Now()}
}

// line prints a message above the bars (or plainly).
func (pp *PullProgress) line(w func(string, ...any), format string, a ...any) {
	if pp.p != nil {
		// mpb prints writes above the running bars.
		w = func(f string, a ...any) { fmt.Fprintf(pp.p, f+"\n", a...) }
	}
	w(format, a...)
}

// Event renders one registry event.
func (pp *PullProgress) Event(e registry.Event) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	ui := pp.ui
	switch e.Kind {
	case registry.EventResolved:
		ui.Verbosef("%s is %s; using %s (%s)", e.Reference, e.Digest, e.Manifest, e.Platform)
	case registry.EventRetry:
		what := "request"
		if e.Digest != "" {
			what = "blob " + ops.ShortDigest(e.Digest)
		}
		pp.line(ui.Infof, "Retrying %s in %s (attempt %d): %v", what, e.Wait, e.Attempt+1, e.Err)
	case registry.EventVerified:
		if v := e.Verification; v != nil && v.Verified {
			pp.line(ui.Infof, "Signature verified: %s", DescribeVerification(v))
		} else if v != nil {
			pp.line(ui.Warnf, "%s is NOT verified (image_verify %s lets it through): %s", e.Reference, v.Policy, v.Problem)
		}
	case registry.EventFallback:
		pp.line(ui.Warnf, "%s failed: %v; trying %s", e.Reference, e.Err, e.Next)
	case registry.EventManifest:
		pp.size, pp.known = e.Size, true
	case registry.EventBlobStart:
		if !pp.known {
			pp.size += e.Size
		}
		if pp.tty {
			pp.startBars()
			pp.total.SetTotal(pp.size, false)
			pp.bars[e.Digest] = pp.p.AddBar(e.Size,
				mpb.BarRemoveOnComplete(),
				mpb.PrependDecorators(decor.Name(ops.ShortDigest(e.Digest)[7:], decor.WCSyncSpaceR)),
				mpb.AppendDecorators(decor.Counters(decor.SizeB1024(0), "% .1f / % .1f")))
		}
	case registry.EventBlobProgress:
		delta := e.Offset - pp.offsets[e.Digest]
		if delta < 0 { // restarted from 0
			delta = e.Offset
		}
		pp.offsets[e.Digest] = e.Offset
		pp.done += delta
		if b := pp.bars[e.Digest]; b != nil {
			b.SetCurrent(e.Offset)
			pp.total.IncrInt64(delta)
		} else if !pp.tty && time.Since(pp.lastLine) >= plainInterval {
			pp.lastLine = time.Now()
			rate := float64(pp.done) / time.Since(pp.started).Seconds()
			ui.Infof("Downloaded %s of %s (%s/s)", ops.HumanBytes(pp.done), ops.HumanBytes(pp.size), ops.HumanBytes(int64(rate)))
		}
	case registry.EventBlobDone:
		b := pp.bars[e.Digest]
		if e.Reused {
			pp.size -= e.Size
			if b != nil {
				b.Abort(true)
				pp.total.SetTotal(pp.size, false)
			}
		} else if b != nil {
			b.SetTotal(e.Size, true)
		}
		if !pp.tty {
			verb := "fetched"
			if e.Reused {
				verb = "already present"
			}
			ui.Verbosef("blob %s %s (%s)", ops.ShortDigest(e.Digest), verb, ops.HumanBytes(e.Size))
		}
	}
}

func (pp *PullProgress) startBars() {
	if pp.p != nil {
		return
	}
	pp.p = mpb.New(mpb.WithOutput(pp.ui.Err), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond))
	pp.total = pp.p.AddBar(0, mpb.BarPriority(1<<30),
		mpb.PrependDecorators(decor.Name("total", decor.WCSyncSpaceR)),
		mpb.AppendDecorators(
			decor.Counters(decor.SizeB1024(0), "% .1f / % .1f"),
			decor.Name("  "),
			decor.AverageSpeed(decor.SizeB1024(0), "% .1f")))
}

// Close ends the bars (ok: the pull succeeded).
func (pp *PullProgress) Close(ok bool) {
	pp.mu.Lock()
	p, total := pp.p, pp.total
	bars := pp.bars
	pp.mu.Unlock()
	if p == nil {
		return
	}
	for _, b := range bars {
		if !b.Completed() {
			b.Abort(true)
		}
	}
	if ok {
		total.SetTotal(total.Current(), true)
	} else {
		total.Abort(false)
	}
	p.Wait()
}
