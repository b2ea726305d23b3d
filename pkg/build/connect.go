package build

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/client"
)

// DefaultProbeTimeout bounds how long Connect waits for each address.
const DefaultProbeTimeout = 5 * time.Second

// BuildKit worker labels (github.com/moby/buildkit/worker/label).
const (
	labelExecutor            = "org.mobyproject.buildkit.worker.executor"
	labelSnapshotter         = "org.mobyproject.buildkit.worker.snapshotter"
	labelContainerdNamespace = "org.mobyproject.buildkit.worker.containerd.namespace"
	labelContainerdUUID      = "org.mobyproject.buildkit.worker.containerd.uuid"
)

// Worker kinds, as recorded in provenance.
const (
	WorkerContainerd = "containerd"
	WorkerOCI        = "oci"
)

// Daemon is a BuildKit daemon that answered, with its default worker.
type Daemon struct {
	*client.Client
	Address string
	// Version is BuildKit's version (e.g. v0.34.2).
	Version string
	Worker  WorkerInfo
}

// WorkerInfo is what occ needs to know about BuildKit's default worker.
type WorkerInfo struct {
	ID string
	// Kind is WorkerContainerd or WorkerOCI (BuildKit's executor label).
	Kind        string
	Snapshotter string
	// Namespace and ContainerdUUID are set for a containerd worker: the
	// namespace it records images in and the containerd daemon it uses.
	Namespace      string
	ContainerdUUID string
}

func workerFromLabels(id string, l map[string]string) WorkerInfo {
	w := WorkerInfo{ID: id, Kind: l[labelExecutor], Snapshotter: l[labelSnapshotter],
		Namespace: l[labelContainerdNamespace], ContainerdUUID: l[labelContainerdUUID]}
	if w.Kind == "" {
		w.Kind = WorkerOCI
	}
	return w
}

// UnreachableError is returned when no BuildKit address answered.
type UnreachableError struct {
	Tried []AddressError
}

// AddressError is one address that did not answer, and why.
type AddressError struct {
	Address string
	Err     error
}

func (e *UnreachableError) Error() string {
	var b strings.Builder
	b.WriteString("cannot reach BuildKit; tried:")
	for _, t := range e.Tried {
		fmt.Fprintf(&b, "\n  - %s: %v", t.Address, t.Err)
	}
	b.WriteString("\nStart buildkitd, or point occ at it with `occ config set buildkit_address unix:///path/to/buildkitd.sock` (or $BUILDKIT_HOST):" +
		"\n  rootful:  sudo buildkitd --addr unix:///run/buildkit/buildkitd.sock" +
		"\n            (add --oci-worker=false --containerd-worker=true --containerd-worker-namespace=opencode-cloud to build straight into containerd)" +
		"\n  rootless: rootlesskit buildkitd (or buildkitd-rootless), which listens on unix://$XDG_RUNTIME_DIR/buildkit/buildkitd.sock")
	return b.String()
}

func (e *UnreachableError) Unwrap() error { return errdefs.ErrUnavailable }

// Connect tries each address in order (cfg.BuildkitAddresses()) and returns
// the first BuildKit daemon that lists a worker. When none answers, the
// error is an *UnreachableError listing every address with its failure.
func Connect(ctx context.Context, addresses []string) (*Daemon, error) {
	if len(addresses) == 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage("no BuildKit address to try (set buildkit_address or $BUILDKIT_HOST)")
	}
	ue := &UnreachableError{}
	for _, addr := range addresses {
		d, err := probe(ctx, addr)
		if err == nil {
			return d, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		ue.Tried = append(ue.Tried, AddressError{Address: addr, Err: err})
	}
	return nil, ue
}

func probe(ctx context.Context, addr string) (*Daemon, error) {
	if path, ok := strings.CutPrefix(addr, "unix://"); ok {
		st, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, errors.New("no socket there (buildkitd is not running at this address)")
		case errors.Is(err, fs.ErrPermission):
			return nil, errors.New("permission denied (run occ as a user allowed to use this socket)")
		case err != nil:
			return nil, err
		case st.Mode()&fs.ModeSocket == 0:
			return nil, errors.New("not a socket")
		}
	} else if !strings.Contains(addr, "://") {
		return nil, errors.New("not an address BuildKit understands (want unix:///path or tcp://host:port)")
	}
	pctx, cancel := context.WithTimeout(ctx, DefaultProbeTimeout)
	defer cancel()
	c, err := client.New(pctx, addr)
	if err != nil {
		return nil, err
	}
	workers, err := c.ListWorkers(pctx)
	if err != nil {
		c.Close()
		return nil, describeDialError(err)
	}
	if len(workers) == 0 {
		c.Close()
		return nil, errors.New("answers but has no worker (check buildkitd's --oci-worker / --containerd-worker flags)")
	}
	w := workers[0]
	d := &Daemon{Client: c, Address: addr, Worker: workerFromLabels(w.ID, w.Labels), Version: w.BuildkitVersion.Version}
	if d.Version == "" { // daemons older than v0.13 report it only in Info
		if info, err := c.Info(pctx); err == nil {
			d.Version = info.BuildkitVersion.Version
		}
	}
	return d, nil
}

func describeDialError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "permission denied"):
		return errors.New("permission denied (run occ as a user allowed to use this socket)")
	case strings.Contains(msg, "connection refused"):
		return errors.New("connection refused (stale socket: buildkitd is not running)")
	case strings.Contains(msg, "DeadlineExceeded") || strings.Contains(msg, "deadline exceeded"):
		return fmt.Errorf("no answer within %s", DefaultProbeTimeout)
	}
	return err
}
