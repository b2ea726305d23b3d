package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fatih/color"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// UI writes occ's terminal output: results to Out, everything a person reads
// about progress, warnings and errors to Err. It honours -q, -v and colour,
// which is decided per stream (colorFor): `occ config show | cat` gets no
// escape codes even when stderr is a terminal.
type UI struct {
	Out, Err io.Writer
	Quiet    bool
	Verbose  int
	// Color is whether Out is coloured; the embedded palette colours text
	// for Out (tables, reports).
	Color bool
	*palette
	// ErrColor is whether Err is coloured; E colours text written to Err.
	ErrColor bool
	E        *palette
}

// palette colours text for one stream; with colour off it returns the text
// unchanged.
type palette struct {
	yellow, green, red, bold, dim *color.Color
}

func newPalette(on bool) *palette {
	mk := func(attrs ...color.Attribute) *color.Color {
		c := color.New(attrs...)
		if on {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return c
	}
	return &palette{yellow: mk(color.FgYellow), green: mk(color.FgGreen), red: mk(color.FgRed, color.Bold),
		bold: mk(color.Bold), dim: mk(color.Faint)}
}

// Yellow, Green and Bold colour a value.
func (p *palette) Yellow(s string) string { return p.yellow.Sprint(s) }
func (p *palette) Green(s string) string  { return p.green.Sprint(s) }
func (p *palette) Bold(s string) string   { return p.bold.Sprint(s) }

// NewUI builds a UI with colour on Out when outColor and on Err when
// errColor. With colour off, no escape codes are written to that stream.
func NewUI(out, errOut io.Writer, quiet bool, verbose int, outColor, errColor bool) *UI {
	return &UI{Out: out, Err: errOut, Quiet: quiet, Verbose: verbose,
		Color: outColor, palette: newPalette(outColor), ErrColor: errColor, E: newPalette(errColor)}
}

// For is the palette for w: E for Err, the Out palette otherwise.
func (u *UI) For(w io.Writer) *palette {
	if w == u.Err {
		return u.E
	}
	return u.palette
}

// colorFor decides colour for one stream: off with --no-color or
// $NO_COLOR (any value, no-color.org), on with $FORCE_COLOR (any value but
// empty, "0" or "false"), otherwise on only when the stream is a terminal and
// $TERM is not "dumb".
func colorFor(w io.Writer, noColor bool) bool {
	if noColor || os.Getenv("NO_COLOR") != "" {
		return false
	}
	if v := os.Getenv("FORCE_COLOR"); v != "" && v != "0" && !strings.EqualFold(v, "false") {
		return true
	}
	return isTerminal(w) && os.Getenv("TERM") != "dumb"
}

// Printf writes a result line to stdout (suppressed by -q).
func (u *UI) Printf(format string, a ...any) {
	if !u.Quiet {
		fmt.Fprintf(u.Out, format+"\n", a...)
	}
}

// Infof writes a progress or informational line to stderr (suppressed by -q).
func (u *UI) Infof(format string, a ...any) {
	if !u.Quiet {
		fmt.Fprintf(u.Err, format+"\n", a...)
	}
}

// Verbosef writes a line only with -v.
func (u *UI) Verbosef(format string, a ...any) {
	if u.Verbose > 0 && !u.Quiet {
		fmt.Fprintf(u.Err, "%s %s\n", u.E.dim.Sprint("[info]"), fmt.Sprintf(format, a...))
	}
}

// Warnf writes a warning to stderr (shown even with -q: it may matter).
func (u *UI) Warnf(format string, a ...any) {
	fmt.Fprintf(u.Err, "%s %s\n", u.E.yellow.Sprint("Warning:"), fmt.Sprintf(format, a...))
}

// Successf writes a success line to stderr (suppressed by -q).
func (u *UI) Successf(format string, a ...any) {
	if !u.Quiet {
		fmt.Fprintf(u.Err, "%s %s\n", u.E.green.Sprint("Success:"), fmt.Sprintf(format, a...))
	}
}

// PrintError reports a command's error. Config problems get upstream's
// "Field / Problem / To fix" layout; everything else one line.
func (u *UI) PrintError(err error) {
	var ve *meta.ValidationError
	var fe *meta.FieldError
	var ce *meta.ConfigError
	switch {
	case errors.As(err, &ve):
		fmt.Fprintf(u.Err, "%s Configuration error\n", u.E.red.Sprint("Error:"))
		for _, f := range ve.Fields {
			u.printField(f)
		}
	case errors.As(err, &fe):
		fmt.Fprintf(u.Err, "%s Configuration error\n", u.E.red.Sprint("Error:"))
		u.printField(fe)
	case errors.As(err, &ce):
		fmt.Fprintf(u.Err, "%s Configuration error\n", u.E.red.Sprint("Error:"))
		fmt.Fprintf(u.Err, "  File:    %s\n  Problem: %s\n", ce.Path, ce.Problem)
		if ce.Hint != "" {
			fmt.Fprintf(u.Err, "  Hint:    %s\n", ce.Hint)
		}
		fmt.Fprintf(u.Err, "  The file was not changed.\n")
	default:
		msg := err.Error()
		fmt.Fprintf(u.Err, "%s %s\n", u.E.red.Sprint("Error:"), strings.TrimSpace(msg))
	}
}

func (u *UI) printField(f *meta.FieldError) {
	fmt.Fprintf(u.Err, "  Field:   %s\n  Problem: %s\n", f.Field, f.Problem)
	if f.Fix != "" {
		fmt.Fprintf(u.Err, "  To fix, run: %s\n", f.Fix)
	}
}
