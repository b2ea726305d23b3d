package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Result is one finished occ run.
type Result struct {
	Code           int // -1 when the run was killed at its timeout
	Stdout, Stderr string
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// Run runs bin (the occ binary) with env, stdin and args, and waits for
// it. With timeout > 0 it is SIGKILLed after timeout: Code is then -1 and
// Stderr ends with a note saying so. An occ that cannot be started fails
// the test.
func Run(ctx context.Context, t testing.TB, bin string, env []string, stdin string, timeout time.Duration, args ...string) Result {
	t.Helper()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	// A killed occ's children may hold its output open: stop waiting for
	// them soon after.
	cmd.WaitDelay = 2 * time.Second
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if errors.Is(err, exec.ErrWaitDelay) {
		errb.WriteString("\n[test: occ exited 0; a process it left behind still held its output]")
	} else if err != nil {
		t.Fatalf("run occ %v: %v", args, err)
	}
	if timeout > 0 && ctx.Err() != nil {
		errb.WriteString(fmt.Sprintf("\n[test: killed after %s]", timeout))
		code = -1
	}
	return Result{Code: code, Stdout: out.String(), Stderr: errb.String()}
}
