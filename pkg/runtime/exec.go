package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ExecOptions describe a command run inside the running container, as root
// unless UID says otherwise. Secrets (passwords) go on Stdin, never in Args.
type ExecOptions struct {
	Args   []string
	UID    uint32 // the container's user id to run as (0: root)
	GID    uint32
	Env    []string // added to the container's env
	Cwd    string   // default: the container's working directory
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Exec runs opts.Args in the running container as root and returns its exit
// code. A non-zero exit code is not an error; failing to run it is.
func (s *Sandbox) Exec(ctx context.Context, opts ExecOptions) (int, error) {
	ctx = s.ctx(ctx)
	if len(opts.Args) == 0 {
		return -1, errdefs.ErrInvalidArgument.WithMessage("exec: no command")
	}
	c, task, err := s.runningTask(ctx)
	if err != nil {
		return -1, err
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("container spec: %w", err)
	}
	p := execProcess(spec.Process, opts)

	if err := os.MkdirAll(s.fifoDir(), 0o700); err != nil {
		return -1, fmt.Errorf("create FIFO directory: %w", err)
	}
	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	// When stdin ends, close the process's stdin so it sees EOF.
	var stdinEOF chan struct{}
	var stdin io.Reader
	if opts.Stdin != nil {
		stdinEOF = make(chan struct{})
		stdin = &eofReader{r: opts.Stdin, done: stdinEOF}
	}
	id := execID()
	proc, err := task.Exec(ctx, id, &p, cio.NewCreator(cio.WithStreams(stdin, stdout, stderr), cio.WithFIFODir(s.fifoDir())))
	if err != nil {
		return -1, fmt.Errorf("exec %s: %w", opts.Args[0], err)
	}
	defer func() { _, _ = proc.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill) }()
	waitC, err := proc.Wait(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec %s: wait: %w", opts.Args[0], err)
	}
	if err := proc.Start(ctx); err != nil {
		return -1, fmt.Errorf("exec %s: %w", opts.Args[0], err)
	}
	if stdinEOF != nil {
		go func() {
			select {
			case <-stdinEOF:
				_ = proc.CloseIO(ctx, containerd.WithStdinCloser)
			case <-waitC:
			}
		}()
	}
	select {
	case st := <-waitC:
		code, _, err := st.Result()
		if err != nil {
			return -1, fmt.Errorf("exec %s: %w", opts.Args[0], err)
		}
		proc.IO().Wait() // drain stdout/stderr
		return int(code), nil
	case <-ctx.Done():
		_ = proc.Kill(context.WithoutCancel(ctx), 9)
		return -1, ctx.Err()
	}
}

// runningTask is the container and its task, which must be running.
func (s *Sandbox) runningTask(ctx context.Context) (containerd.Container, containerd.Task, error) {
	c, err := s.container(ctx)
	if err != nil {
		return nil, nil, err
	}
	notRunning := errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("container %s is not running (start it with `occ start`)", s.name))
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil, nil, notRunning
	} else if err != nil {
		return nil, nil, fmt.Errorf("load task: %w", err)
	}
	if st, err := task.Status(ctx); err != nil || st.Status != containerd.Running {
		return nil, nil, notRunning
	}
	return c, task, nil
}

// execProcess is the process to exec: the container's, with opts' command,
// user, environment and working directory, and no terminal.
func execProcess(base *specs.Process, opts ExecOptions) specs.Process {
	p := *base
	p.Args = opts.Args
	p.Terminal = false
	p.ConsoleSize = nil
	p.User = specs.User{UID: opts.UID, GID: opts.GID}
	if opts.UID != 0 {
		// As the sandbox's entrypoint starts opencode: no capabilities.
		p.Capabilities = &specs.LinuxCapabilities{}
	}
	p.Env = mergeEnv(base.Env, opts.Env)
	if opts.Cwd != "" {
		p.Cwd = opts.Cwd
	}
	return p
}

func execID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "occ-exec-" + hex.EncodeToString(b)
}

// eofReader closes done once the underlying reader is exhausted.
type eofReader struct {
	r    io.Reader
	done chan struct{}
	once sync.Once
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.done) })
		if errors.Is(err, io.EOF) {
			return n, io.EOF
		}
	}
	return n, err
}
