package ui

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

func TestChoose(t *testing.T) {
	opts := []string{"one", "two", "three"}
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"\n", 2, false}, {"3\n", 3, false}, {"9\nx\n1\n", 1, false}, {"", 0, true},
	}
	for _, tt := range tests {
		p := &Prompter{Err: io.Discard, In: strings.NewReader(tt.in), Interactive: true}
		got, err := p.Choose("Pick", opts, 2)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%q: got %d %v", tt.in, got, err)
		}
	}
	p := &Prompter{Err: io.Discard, In: strings.NewReader("1\n")}
	if _, err := p.Choose("Pick", opts, 1); err == nil {
		t.Error("Choose without a terminal did not fail")
	}
}

func TestMultiSelect(t *testing.T) {
	opts := []string{"cli", "container", "opencode"}
	tests := []struct {
		name, in string
		want     string
		wantErr  bool
	}{
		{"Enter keeps the marks", "\n", "[true false true]", false},
		{"toggle two", "1, 2\n\n", "[false true true]", false},
		{"none, then one", "none\n3\n\n", "[false false true]", false},
		{"all", "all\n\n", "[true true true]", false},
		{"out of range is asked again", "7\nx\n\n", "[true false true]", false},
		{"no answer", "", "[]", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			p := &Prompter{Err: &out, In: strings.NewReader(tt.in), Interactive: true}
			got, err := p.MultiSelect("Select updates", opts, []bool{true, false, true}, "--yes")
			if (err != nil) != tt.wantErr || (err == nil && fmt.Sprint(got) != tt.want) {
				t.Errorf("MultiSelect(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
			if !strings.Contains(out.String(), "[x] 1. cli") || !strings.Contains(out.String(), "[ ] 2. container") {
				t.Errorf("the list was not shown with its marks:\n%s", out.String())
			}
		})
	}
	p := &Prompter{Err: io.Discard, In: strings.NewReader("\n")}
	if _, err := p.MultiSelect("Select updates", opts, nil, "--yes"); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("MultiSelect without a terminal: %v", err)
	}
}

func TestConfirmAndLine(t *testing.T) {
	for _, tc := range []struct {
		in       string
		def      bool
		want     bool
		wantLine string
		wantErr  bool
	}{
		{"y\n", false, true, "y", false}, {"yes\n", false, true, "yes", false}, {"\n", true, true, "admin", false},
		{"\n", false, false, "admin", false}, {"no\n", true, false, "no", false}, {"", true, false, "", true},
	} {
		p := &Prompter{Err: io.Discard, In: strings.NewReader(tc.in), Interactive: true}
		got, err := p.Confirm("Go on?", tc.def, "--yes")
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("Confirm(%q, %v) = %v %v", tc.in, tc.def, got, err)
		}
		p.In = strings.NewReader(tc.in)
		line, err := p.Line("Username", "admin", "NAME")
		if line != tc.wantLine || (err != nil) != tc.wantErr {
			t.Errorf("Line(%q) = %q %v", tc.in, line, err)
		}
	}
	p := &Prompter{Err: io.Discard, In: strings.NewReader("y\n")}
	if _, err := p.Confirm("Go on?", true, "--yes"); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("Confirm without a terminal: %v", err)
	}
}

// TestReadSecretFromStdin: off a terminal a secret is one line of stdin,
// bounded, and never empty.
func TestReadSecretFromStdin(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      func(error) bool
	}{
		{"s3cret\n", "s3cret", nil},
		{"s3cret", "s3cret", nil},
		{"s3cret\r\nmore\n", "s3cret", nil},
		{"\n", "", errdefs.IsInvalidArgument},
		{strings.Repeat("x", MaxSecretLine+1), "", errdefs.IsInvalidArgument},
	} {
		p := &Prompter{Err: io.Discard, In: strings.NewReader(tc.in)}
		got, err := p.ReadSecret("Password", true)
		if got != tc.want || (tc.err == nil) != (err == nil) || (tc.err != nil && !tc.err(err)) {
			t.Errorf("ReadSecret(%.20q) = %q %v", tc.in, got, err)
		}
	}
}

// TestPromptAround: every prompt runs inside Around (cmd/occ lets go of
// occ's lock there), and Ctrl-C ends a waiting prompt as an interrupt.
func TestPromptAround(t *testing.T) {
	arounds := 0
	p := &Prompter{Err: io.Discard, In: strings.NewReader("1\n"), Interactive: true,
		Around: func(f func() error) error { arounds++; return f() }}
	if _, err := p.Choose("Which?", []string{"a"}, 1); err != nil || arounds != 1 {
		t.Fatalf("Choose: %v, around %d", err, arounds)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	defer pw.Close()
	p = &Prompter{Err: io.Discard, In: pr, Interactive: true, Ctx: ctx}
	done := make(chan error, 1)
	go func() { _, err := p.Confirm("Go on?", false, "--yes"); done <- err }()
	cancel()
	select {
	case err := <-done:
		if !IsInterrupt(err) {
			t.Errorf("interrupted prompt: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the prompt ignored the interrupt")
	}
}
