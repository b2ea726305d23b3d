package runtime

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/runtime/v2/logging"
	"github.com/containerd/containerd/v2/pkg/cio"
)

// The sandbox's log, without a daemon: containerd's shim starts a logging
// binary for the container's lifetime (a binary:// log URI) and hands it the
// container's stdout and stderr. occ is that binary: `occ log-driver PATH`.
// It writes one line per output line, "<RFC 3339 UTC time> <stream> <text>",
// and rotates the file itself when it reaches MaxLogSize (PATH becomes
// PATH.1), so the log stays bounded however long the container runs and
// whether or not occ is ever run again. Readers strip the time and stream
// unless timestamps were asked for.
const (
	// LogDriverCommand is occ's hidden subcommand the shim runs.
	LogDriverCommand = "log-driver"

	// Log file formats, recorded in the container's LabelContainerLogFormat.
	LogFormatRaw     = "raw"   // shim file:// log: the bytes as written
	LogFormatStamped = "occ/1" // log driver: "<time> <stream> <text>" lines

	// maxLogLine splits longer output lines so one line never holds unbounded memory.
	maxLogLine = 256 << 10
)

// ServeLogDriver runs the log driver for the container the shim started it
// for. It does not return: containerd's logging.Run exits the process when
// the container's streams close or the shim sends SIGTERM.
func ServeLogDriver(path string) {
	logging.Run(func(ctx context.Context, cfg *logging.Config, ready func() error) error {
		w, err := openRotating(path, MaxLogSize)
		if err != nil {
			return err
		}
		defer w.Close()
		if err := ready(); err != nil {
			return err
		}
		return copyStreams(ctx, w, map[string]io.Reader{"stdout": cfg.Stdout, "stderr": cfg.Stderr}, time.Now)
	})
}

// copyStreams writes each line of every stream to w, stamped, until all
// streams end or ctx is done.
func copyStreams(ctx context.Context, w *rotatingWriter, streams map[string]io.Reader, now func() time.Time) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(streams))
	for name, r := range streams {
		if r == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReaderSize(r, 64<<10)
			var line []byte
			for {
				chunk, err := br.ReadSlice('\n')
				line = append(line, chunk...)
				full := err == nil
				if errors.Is(err, bufio.ErrBufferFull) && len(line) < maxLogLine {
					continue
				}
				if len(line) > 0 && (full || len(line) >= maxLogLine || err != nil) {
					if werr := w.WriteLine(now(), name, bytes.TrimSuffix(line, []byte("\n"))); werr != nil {
						errs <- werr
						return
					}
					line = line[:0]
				}
				if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
					return // EOF or a closed pipe: the container is gone
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// rotatingWriter appends stamped lines to a file and keeps it under max
// bytes by renaming it to path.1 (replacing the previous one) and starting
// a new file.
type rotatingWriter struct {
	mu   sync.Mutex
	path string
	max  int64
	f    *os.File
	size int64
}

func openRotating(path string, max int64) (*rotatingWriter, error) {
	w := &rotatingWriter{path: path, max: max}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *rotatingWriter) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log: %w", err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// WriteLine writes one stamped line.
func (w *rotatingWriter) WriteLine(t time.Time, stream string, text []byte) error {
	var b bytes.Buffer
	b.Grow(len(text) + 48)
	b.WriteString(t.UTC().Format(time.RFC3339Nano))
	b.WriteByte(' ')
	b.WriteString(stream)
	b.WriteByte(' ')
	b.Write(text)
	b.WriteByte('\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.size > 0 && w.size+int64(b.Len()) > w.max {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(b.Bytes())
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	return nil
}

func (w *rotatingWriter) rotate() error {
	w.f.Close()
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	return w.open()
}

// Close closes the file.
func (w *rotatingWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// stampedWriter turns the log driver's lines back into what the container
// wrote, optionally prefixed with the time. It buffers a partial line until
// its newline arrives (Flush writes what is left).
type stampedWriter struct {
	w          io.Writer
	timestamps bool
	partial    []byte
}

func (s *stampedWriter) Write(p []byte) (int, error) {
	n := len(p)
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			return n, nil
		}
		if _, err := s.w.Write(s.render(s.partial[:i+1])); err != nil {
			return n, err
		}
		s.partial = s.partial[i+1:]
	}
}

// Flush writes a final line that had no newline.
func (s *stampedWriter) Flush() error {
	if len(s.partial) == 0 {
		return nil
	}
	_, err := s.w.Write(s.render(append(s.partial, '\n')))
	s.partial = nil
	return err
}

// render turns "<time> <stream> <text>\n" into "<text>\n" or "<time> <text>\n".
func (s *stampedWriter) render(line []byte) []byte {
	ts, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return line
	}
	_, text, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		return line
	}
	if !s.timestamps {
		return text
	}
	out := make([]byte, 0, len(ts)+1+len(text))
	out = append(out, ts...)
	out = append(out, ' ')
	return append(out, text...)
}

// logCreator picks how the task's output reaches logPath: through occ's log
// driver when SpecOptions.LogDriver names occ, else the shim's own file log.
func (s *Sandbox) logCreator(logPath string) (cio.Creator, string, string, error) {
	if d := s.opts.LogDriver; d != "" {
		if !filepath.IsAbs(d) {
			return nil, "", "", fmt.Errorf("log driver %q must be an absolute path", d)
		}
		// The shim (and the restart monitor, later) runs a trusted copy
		// as root, not the occ executable itself (logdriverbin.go).
		d, err := installLogDriver(d, logDriverDir(s.opts.Paths.DataDir))
		if err != nil {
			return nil, "", "", err
		}
		args := map[string]string{LogDriverCommand: logPath}
		uri, err := cio.LogURIGenerator("binary", d, args)
		if err != nil {
			return nil, "", "", fmt.Errorf("log driver: %w", err)
		}
		return cio.BinaryIO(d, args), uri.String(), LogFormatStamped, nil
	}
	return cio.LogFile(logPath), "file://" + logPath, LogFormatRaw, nil
}
