package runtime

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// Log size bound. The shim appends the container's stdout and stderr to one
// file (a containerd file:// log URI, opened O_APPEND), so occ needs no
// daemon and no logging binary of its own. occ is not running while the
// container is, so the bound is enforced whenever occ touches the container
// (start, stop, status, logs): a file over MaxLogSize is copied to
// <log>.1 (replacing the previous one) and truncated in place. Truncating is
// safe under O_APPEND: the shim's next write lands at the new end. Disk use
// is therefore at most 2×MaxLogSize plus what is written between two occ
// commands; a line written during the copy itself may be lost.
const MaxLogSize = 10 << 20

// rotateLog applies the bound to path (see MaxLogSize).
func rotateLog(path string, max int64) error {
	if path == "" {
		return nil
	}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	if st.Size() <= max {
		return nil
	}
	src, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	defer src.Close()
	tmp := path + ".1.tmp"
	dst, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("rotate log: %w", err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rotate log: %w", err)
	}
	if err := os.Rename(tmp, path+".1"); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	if err := os.Truncate(path, 0); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	return nil
}

// LogOptions select what Logs prints.
type LogOptions struct {
	Tail   int  // last N lines; 0 or less: everything
	Follow bool // keep printing new lines until ctx ends or the container stops
	// Timestamps prefixes each line with the time it was written (RFC 3339,
	// UTC). Only logs written by occ's log driver carry times; for a raw log
	// Logs returns an error saying so.
	Timestamps bool
	// PollInterval for Follow (default 200 ms).
	PollInterval time.Duration
}

// Logs writes the container's log to w. It works while the container runs
// and after it stopped (the file outlives the task). With Follow it returns
// when ctx is done or, once the task is no longer running, after the last
// lines were printed.
func (s *Sandbox) Logs(ctx context.Context, opts LogOptions, w io.Writer) error {
	path, format := s.LogPath(), LogFormatRaw
	if c, err := s.container(ctx); err == nil {
		if l, err := c.Labels(s.ctx(ctx)); err == nil {
			if l[meta.LabelContainerLogPath] != "" {
				path = l[meta.LabelContainerLogPath]
			}
			if l[meta.LabelContainerLogFormat] != "" {
				format = l[meta.LabelContainerLogFormat]
			}
		}
	}
	var running func() bool
	if opts.Follow {
		running = func() bool { return s.taskRunning(ctx) }
	}
	if format != LogFormatStamped {
		if opts.Timestamps {
			return errdefs.ErrNotImplemented.WithMessage("this container's log has no timestamps (it was started without occ's log driver); restart it with `occ restart` to record them")
		}
		_ = rotateLog(path, MaxLogSize)
		return followFile(ctx, path, opts, w, running)
	}
	sw := &stampedWriter{w: w, timestamps: opts.Timestamps}
	if err := followFile(ctx, path, opts, sw, running); err != nil {
		return err
	}
	return sw.Flush()
}

func (s *Sandbox) taskRunning(ctx context.Context) bool {
	c, err := s.container(ctx)
	if err != nil {
		return false
	}
	t, err := c.Task(s.ctx(ctx), nil)
	if err != nil {
		return false
	}
	st, err := t.Status(s.ctx(ctx))
	return err == nil && st.Status != containerd.Stopped
}

// followFile prints path (its last opts.Tail lines) and, if running is not
// nil, follows it while running() is true, surviving truncation.
func followFile(ctx context.Context, path string, opts LogOptions, w io.Writer, running func() bool) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if running == nil {
			return nil // nothing logged yet
		}
	} else if err != nil {
		return fmt.Errorf("open log %s: %w", path, err)
	}
	var off int64
	if f != nil {
		defer f.Close()
		start, err := tailOffset(f, opts.Tail)
		if err != nil {
			return fmt.Errorf("read log %s: %w", path, err)
		}
		n, err := copyFrom(f, start, w)
		if err != nil {
			return err
		}
		off = start + n
	}
	if running == nil {
		return nil
	}
	interval := opts.PollInterval
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		alive := running()
		if f == nil {
			if nf, err := os.Open(path); err == nil {
				f = nf
				defer nf.Close()
			}
		}
		if f != nil {
			st, err := f.Stat()
			if err != nil {
				return fmt.Errorf("read log %s: %w", path, err)
			}
			if st.Size() < off { // truncated by rotation
				off = 0
			}
			n, err := copyFrom(f, off, w)
			if err != nil {
				return err
			}
			off += n
			// Renamed away by the log driver's rotation: the rest of the old
			// file is printed above; go on with the new one.
			if cur, err := os.Stat(path); err == nil && !os.SameFile(st, cur) {
				if nf, err := os.Open(path); err == nil {
					f.Close()
					f, off = nf, 0
					defer nf.Close()
					continue
				}
			}
		}
		if !alive {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func copyFrom(f *os.File, off int64, w io.Writer) (int64, error) {
	n, err := io.Copy(w, io.NewSectionReader(f, off, 1<<62))
	if err != nil {
		return n, fmt.Errorf("copy log: %w", err)
	}
	return n, nil
}

// tailOffset finds where the last n lines of f start (0 for n <= 0).
func tailOffset(f *os.File, n int) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	const chunk = 64 << 10
	pos := size
	lines := 0
	buf := make([]byte, chunk)
	// A final line without newline still counts as a line.
	if size > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err != nil {
			return 0, err
		}
		if last[0] == '\n' {
			pos-- // do not count the trailing newline
		}
	}
	for pos > 0 {
		sz := int64(chunk)
		if pos < sz {
			sz = pos
		}
		pos -= sz
		if _, err := f.ReadAt(buf[:sz], pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := sz - 1; i >= 0; i-- {
			if buf[i] == '\n' {
				lines++
				if lines == n {
					return pos + i + 1, nil
				}
			}
		}
	}
	return 0, nil
}

// LastLogLines returns up to n of the newest log lines.
func (s *Sandbox) LastLogLines(ctx context.Context, n int) ([]string, error) {
	var b bytes.Buffer
	if err := s.Logs(ctx, LogOptions{Tail: n}, &b); err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(&b)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out, nil
}
