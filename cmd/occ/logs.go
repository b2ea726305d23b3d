package main

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"

	"github.com/opencode-cloud/occ/internal/ui"
	"github.com/opencode-cloud/occ/pkg/ops"
)

// LogsCmd prints the sandbox container's output. It follows new lines when
// stdout is a terminal (or with -f); piped or redirected it prints what is
// there and exits, so a script calling it returns.
//
// --timestamps shows when each line was written; the times are recorded by
// occ's log driver (pkg/runtime), so a container started without it (by an
// older occ) has none until it is restarted.
type LogsCmd struct {
	Lines      string `short:"n" default:"50" placeholder:"N|all" help:"Number of lines to show from the end, or all (default ${default})."`
	Follow     bool   `short:"f" xor:"follow" help:"Keep printing new lines (the default only when stdout is a terminal)."`
	NoFollow   bool   `name:"no-follow" xor:"follow" help:"Print the lines and exit (the default when stdout is not a terminal)."`
	Grep       string `placeholder:"TEXT" help:"Show only lines containing TEXT (a plain substring, not a regex)."`
	Timestamps bool   `help:"Prefix each line with the time it was written (RFC 3339, UTC)."`
}

func (c *LogsCmd) Run(ctx context.Context, app *App) error {
	tail, err := parseTail(c.Lines)
	if err != nil {
		return err
	}
	follow := c.Follow || (!c.NoFollow && ui.IsTerminal(app.UI.Out))
	lw := &lineWriter{w: app.UI.Out, grep: c.Grep, color: app.UI.Color && !app.UI.Quiet, ui: app.UI}
	err = app.ops().Logs(ctx, ops.LogsOptions{Tail: tail, Follow: follow, Timestamps: c.Timestamps, Out: lw})
	lw.Flush()
	if err != nil {
		return err
	}
	if follow && ctx.Err() == nil {
		app.UI.Infof("Container stopped")
	}
	return nil
}

// parseTail reads -n: a count, or "all" (0: everything).
func parseTail(s string) (int, error) {
	if strings.EqualFold(s, "all") {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, errInvalidFlag("-n/--lines takes a positive number of lines or \"all\", got " + strconv.Quote(s))
	}
	return n, nil
}

// lineWriter passes whole lines through, dropping those without grep and
// colouring by level words when color is set. Flush writes a last partial
// line.
type lineWriter struct {
	w     io.Writer
	grep  string
	color bool
	ui    *UI
	buf   []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		if err := l.emit(l.buf[:i+1]); err != nil {
			return len(p), err
		}
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

// Flush writes what is left (a line without its newline yet).
func (l *lineWriter) Flush() {
	if len(l.buf) > 0 {
		_ = l.emit(l.buf)
		l.buf = nil
	}
}

func (l *lineWriter) emit(line []byte) error {
	s := string(line)
	if l.grep != "" && !strings.Contains(s, l.grep) {
		return nil
	}
	if l.color {
		body := strings.TrimSuffix(s, "\n")
		nl := s[len(body):]
		s = colorLogLine(l.ui, body) + nl
	}
	_, err := io.WriteString(l.w, s)
	return err
}

// colorLogLine colours a line by the first level word in it (upstream:
// error red, warn yellow, info cyan-ish, debug dim).
func colorLogLine(ui *UI, s string) string {
	switch {
	case strings.Contains(s, "ERROR") || strings.Contains(s, "error"):
		return ui.Red(s)
	case strings.Contains(s, "WARN") || strings.Contains(s, "warn"):
		return ui.Yellow(s)
	case strings.Contains(s, "DEBUG") || strings.Contains(s, "debug"):
		return ui.Dim(s)
	}
	return s
}
