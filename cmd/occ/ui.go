package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/fatih/color"
	"github.com/opencode-cloud/occ/pkg/meta"
)

// UI writes occ's terminal output: results to Out, everything a person reads
// about progress, warnings and errors to Err. It honours -q, -v and colour.
type UI struct {
	Out, Err io.Writer
	Quiet    bool
	Verbose  int
	Color    bool

	yellow, green, red, bold, dim *color.Color
}

// NewUI builds a UI. With colour off, no escape codes are written.
func NewUI(out, errOut io.Writer, quiet bool, verbose int, useColor bool) *UI {
	mk := func(attrs ...color.Attribute) *color.Color {
		c := color.New(attrs...)
		if useColor {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return c
	}
	return &UI{Out: out, Err: errOut, Quiet: quiet, Verbose: verbose, Color: useColor,
		yellow: mk(color.FgYellow), green: mk(color.FgGreen), red: mk(color.FgRed, color.Bold),
		bold: mk(color.Bold), dim: mk(color.Faint)}
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
		fmt.Fprintf(u.Err, "%s %s\n", u.dim.Sprint("[info]"), fmt.Sprintf(format, a...))
	}
}

// Warnf writes a warning to stderr (shown even with -q: it may matter).
func (u *UI) Warnf(format string, a ...any) {
	fmt.Fprintf(u.Err, "%s %s\n", u.yellow.Sprint("Warning:"), fmt.Sprintf(format, a...))
}

// Successf writes a success line to stderr (suppressed by -q).
func (u *UI) Successf(format string, a ...any) {
	if !u.Quiet {
		fmt.Fprintf(u.Err, "%s %s\n", u.green.Sprint("Success:"), fmt.Sprintf(format, a...))
	}
}

// Yellow and Green colour a value for tables.
func (u *UI) Yellow(s string) string { return u.yellow.Sprint(s) }
func (u *UI) Green(s string) string  { return u.green.Sprint(s) }
func (u *UI) Bold(s string) string   { return u.bold.Sprint(s) }

// PrintError reports a command's error. Config problems get upstream's
// "Field / Problem / To fix" layout; everything else one line.
func (u *UI) PrintError(err error) {
	var ve *meta.ValidationError
	var fe *meta.FieldError
	var ce *meta.ConfigError
	switch {
	case errors.As(err, &ve):
		fmt.Fprintf(u.Err, "%s Configuration error\n", u.red.Sprint("Error:"))
		for _, f := range ve.Fields {
			u.printField(f)
		}
	case errors.As(err, &fe):
		fmt.Fprintf(u.Err, "%s Configuration error\n", u.red.Sprint("Error:"))
		u.printField(fe)
	case errors.As(err, &ce):
		fmt.Fprintf(u.Err, "%s Configuration error\n", u.red.Sprint("Error:"))
		fmt.Fprintf(u.Err, "  File:    %s\n  Problem: %s\n", ce.Path, ce.Problem)
		if ce.Hint != "" {
			fmt.Fprintf(u.Err, "  Hint:    %s\n", ce.Hint)
		}
		fmt.Fprintf(u.Err, "  The file was not changed.\n")
	default:
		msg := err.Error()
		fmt.Fprintf(u.Err, "%s %s\n", u.red.Sprint("Error:"), strings.TrimSpace(msg))
	}
}

func (u *UI) printField(f *meta.FieldError) {
	fmt.Fprintf(u.Err, "  Field:   %s\n  Problem: %s\n", f.Field, f.Problem)
	if f.Fix != "" {
		fmt.Fprintf(u.Err, "  To fix, run: %s\n", f.Fix)
	}
}
