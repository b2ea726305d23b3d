package ui

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/term"
)

// Prompter asks questions on the terminal. Without one (Interactive false)
// every question is an error that names the flag answering it. Around, when
// set, wraps each prompt (cmd/occ lets go of occ's lock while a question
// waits); Ctrl-C (Ctx cancelled) ends a prompt at once.
type Prompter struct {
	In          io.Reader
	Err         io.Writer
	Interactive bool
	Ctx         context.Context
	Around      func(prompt func() error) error
}

// ErrNeedsTTY builds the error for a prompt that cannot be shown.
func ErrNeedsTTY(question, flag string) error {
	return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("%q needs an answer, but occ is not running on a terminal (or -q was given); pass %s to proceed",
		question, flag))
}

// CanPrompt is whether questions can be asked.
func (p *Prompter) CanPrompt() bool { return p.Interactive }

func (p *Prompter) around(prompt func() error) error {
	if p.Around == nil {
		return prompt()
	}
	return p.Around(prompt)
}

// Confirm asks a yes/no question; Enter takes def.
func (p *Prompter) Confirm(question string, def bool, flag string) (bool, error) {
	if !p.Interactive {
		return false, ErrNeedsTTY(question, flag)
	}
	hint := "[y/N]"
	if def {
		hint = "[Y/n]"
	}
	var answer bool
	err := p.around(func() error {
		fmt.Fprintf(p.Err, "%s %s ", question, hint)
		line, err := p.interruptible(func() (string, error) { return bufio.NewReader(p.In).ReadString('\n') }, nil)
		if err != nil && line == "" {
			if IsInterrupt(err) {
				return err
			}
			return errdefs.ErrAborted.WithMessage(fmt.Sprintf("no answer to %q", question))
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "":
			answer = def
		case "y", "yes":
			answer = true
		}
		return nil
	})
	return answer, err
}

// Choose asks the user to pick one of options (numbered from 1) and returns
// the number; Enter takes def. It needs a terminal.
func (p *Prompter) Choose(question string, options []string, def int) (int, error) {
	if !p.Interactive {
		return 0, ErrNeedsTTY(question, "the matching flag")
	}
	choice := 0
	err := p.around(func() error {
		for i, o := range options {
			fmt.Fprintf(p.Err, "  [%d] %s\n", i+1, o)
		}
		rd := bufio.NewReader(p.In)
		for {
			fmt.Fprintf(p.Err, "%s [%d]: ", question, def)
			line, err := p.interruptible(func() (string, error) { return rd.ReadString('\n') }, nil)
			if IsInterrupt(err) {
				return err
			}
			if err != nil && line == "" {
				return errdefs.ErrAborted.WithMessage(fmt.Sprintf("no answer to %q", question))
			}
			s := strings.TrimSpace(line)
			if s == "" {
				choice = def
				return nil
			}
			if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= len(options) {
				choice = n
				return nil
			}
			fmt.Fprintf(p.Err, "Please answer 1 to %d.\n", len(options))
		}
	})
	return choice, err
}

// MultiSelect shows options with a check box each (selected: the initial
// marks) and lets the user toggle them by number until Enter accepts the
// marks; "all" and "none" mark everything or nothing. It returns the final
// marks and needs a terminal (flag names the flag to use without one).
func (p *Prompter) MultiSelect(question string, options []string, selected []bool, flag string) ([]bool, error) {
	if !p.Interactive {
		return nil, ErrNeedsTTY(question, flag)
	}
	marks := make([]bool, len(options))
	copy(marks, selected)
	err := p.around(func() error {
		rd := bufio.NewReader(p.In)
		for {
			for i, o := range options {
				box := "[ ]"
				if marks[i] {
					box = "[x]"
				}
				fmt.Fprintf(p.Err, "  %s %d. %s\n", box, i+1, o)
			}
			fmt.Fprintf(p.Err, "%s (numbers toggle, all, none; Enter accepts): ", question)
			line, err := p.interruptible(func() (string, error) { return rd.ReadString('\n') }, nil)
			if IsInterrupt(err) {
				return err
			}
			if err != nil && line == "" {
				return errdefs.ErrAborted.WithMessage(fmt.Sprintf("no answer to %q", question))
			}
			s := strings.ToLower(strings.TrimSpace(line))
			switch s {
			case "":
				return nil
			case "all", "none":
				for i := range marks {
					marks[i] = s == "all"
				}
				continue
			}
			bad := false
			for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
				n, err := strconv.Atoi(f)
				if err != nil || n < 1 || n > len(options) {
					bad = true
					continue
				}
				marks[n-1] = !marks[n-1]
			}
			if bad {
				fmt.Fprintf(p.Err, "Please give numbers from 1 to %d, all or none.\n", len(options))
			}
		}
	})
	return marks, err
}

// Line asks for one line of text; Enter takes def. It needs a terminal.
func (p *Prompter) Line(question, def, flag string) (string, error) {
	if !p.Interactive {
		return "", ErrNeedsTTY(question, flag)
	}
	var answer string
	err := p.around(func() error {
		fmt.Fprintf(p.Err, "%s [%s]: ", question, def)
		line, err := p.interruptible(func() (string, error) { return bufio.NewReader(p.In).ReadString('\n') }, nil)
		if IsInterrupt(err) {
			return err
		}
		if err != nil && line == "" {
			return errdefs.ErrAborted.WithMessage(fmt.Sprintf("no answer to %q", question))
		}
		if answer = strings.TrimSpace(line); answer == "" {
			answer = def
		}
		return nil
	})
	return answer, err
}

// MaxSecretLine bounds a secret read from stdin, line ending included:
// far above any password (runtime.MaxPasswordBytes) or API key, and small
// enough that a stdin that never ends (/dev/zero) is refused at once.
const MaxSecretLine = 64 << 10

// ReadSecret reads a secret. On a terminal it prompts without echo, twice
// when confirm is set; otherwise it reads one line from stdin, so scripts
// can pipe it in. Secrets are never taken from the command line.
func (p *Prompter) ReadSecret(prompt string, confirm bool) (secret string, err error) {
	err = p.around(func() error {
		secret, err = p.readSecret(prompt, confirm)
		return err
	})
	return secret, err
}

func (p *Prompter) readSecret(prompt string, confirm bool) (string, error) {
	f, isFile := p.In.(*os.File)
	if isFile && term.IsTerminal(int(f.Fd())) {
		return p.readSecretTTY(int(f.Fd()), prompt, confirm)
	}
	// At most MaxSecretLine bytes: a secret is one short line, and stdin
	// may be a file or device that never ends (/dev/zero).
	line, err := p.interruptible(func() (string, error) {
		return bufio.NewReader(io.LimitReader(p.In, MaxSecretLine+1)).ReadString('\n')
	}, nil)
	if IsInterrupt(err) {
		return "", err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s from stdin: %w", lowerFirst(prompt), err)
	}
	if len(line) > MaxSecretLine {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the %s on stdin is longer than %d bytes: give a shorter one", strings.ToLower(prompt), MaxSecretLine))
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("no %s given on stdin (pipe it in, or run on a terminal to be prompted)", lowerFirst(prompt)))
	}
	return line, nil
}

// readSecretTTY prompts on the terminal fd without echo.
func (p *Prompter) readSecretTTY(fd int, prompt string, confirm bool) (string, error) {
	read := func(q string) (string, error) {
		fmt.Fprint(p.Err, q)
		state, _ := term.GetState(fd)
		s, err := p.interruptible(func() (string, error) {
			b, err := term.ReadPassword(fd)
			return string(b), err
		}, func() {
			if state != nil {
				_ = term.Restore(fd, state) // echo back on
			}
		})
		fmt.Fprintln(p.Err)
		if err != nil && !IsInterrupt(err) {
			err = fmt.Errorf("read %s: %w", lowerFirst(prompt), err)
		}
		return s, err
	}
	s, err := read(prompt + ": ")
	if err != nil {
		return "", err
	}
	if confirm {
		again, err := read("Confirm " + lowerFirst(prompt) + ": ")
		if err != nil {
			return "", err
		}
		if again != s {
			return "", errdefs.ErrInvalidArgument.WithMessage("the two entries do not match; nothing was changed")
		}
	}
	return s, nil
}

// ErrInterrupted is a prompt ended by Ctrl-C (or SIGTERM); occ exits 130.
func ErrInterrupted(cause error) error {
	return fmt.Errorf("interrupted at the prompt; nothing was changed: %w", cause)
}

// IsInterrupt is whether err is an interrupt (context.Canceled).
func IsInterrupt(err error) bool { return err != nil && errors.Is(err, context.Canceled) }

// interruptible runs a blocking read and returns its result, or returns
// as soon as occ is interrupted (a signal.NotifyContext catches SIGINT, so
// without this Ctrl-C at a prompt did nothing). restore undoes what the
// read did to the terminal. The abandoned read ends with the process.
func (p *Prompter) interruptible(read func() (string, error), restore func()) (string, error) {
	ctx := p.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := read()
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		if restore != nil {
			restore()
		}
		fmt.Fprintln(p.Err)
		return "", ErrInterrupted(context.Canceled)
	}
}

// lowerFirst puts a prompt ("Password", "Value for API_KEY") into a
// sentence, leaving the rest (a variable's name) as it is.
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
