package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// DefaultConnectTimeout bounds how long Connect waits for containerd.
const DefaultConnectTimeout = 10 * time.Second

// Client is a containerd connection scoped to occ's namespace and snapshotter.
// The containerd client itself stays inside pkg/runtime: callers get the
// few stores and questions they need through the methods below.
type Client struct {
	ctr         *containerd.Client
	Address     string
	Namespace   string
	Snapshotter string
	// ImageLabels are added to every image record SetImage writes: a
	// sandbox instance's label (meta.Paths.InstanceLabels).
	ImageLabels map[string]string
}

// Connect dials containerd at address (a socket path or unix:// URL), checks
// that it answers, and scopes the client to namespace. Errors say what to
// check: the socket, the daemon, permissions.
func Connect(ctx context.Context, address, namespace, snapshotter string) (*Client, error) {
	path := strings.TrimPrefix(address, "unix://")
	if st, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &UnreachableError{Address: path, Err: errdefs.ErrUnavailable.WithMessage(fmt.Sprintf(
				"containerd is not running at %s (no socket there): start containerd, or point occ at its socket with --address, $CONTAINERD_ADDRESS or `occ config set containerd_address PATH`; `occ doctor` checks the setup", path))}
		}
		return nil, &UnreachableError{Address: path, Err: fmt.Errorf("containerd socket %s: %w", path, err)}
	} else if st.Mode()&fs.ModeSocket == 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s is not a socket; containerd_address must name containerd's gRPC socket (usually /run/containerd/containerd.sock)", path))
	}
	c, err := containerd.New(path,
		containerd.WithDefaultNamespace(namespace),
		containerd.WithTimeout(DefaultConnectTimeout))
	if err != nil {
		return nil, connectError(path, err)
	}
	vctx, cancel := context.WithTimeout(namespaces.WithNamespace(ctx, namespace), DefaultConnectTimeout)
	defer cancel()
	if _, err := c.Version(vctx); err != nil {
		c.Close()
		return nil, connectError(path, err)
	}
	return &Client{ctr: c, Address: path, Namespace: namespace, Snapshotter: snapshotter}, nil
}

// UnreachableError is containerd not answering at Address: no socket, no
// permission to use it, or no reply. occ exits 4 for it.
type UnreachableError struct {
	Address string
	Err     error
}

func (e *UnreachableError) Error() string { return e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

func connectError(path string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "permission denied"):
		err = fmt.Errorf("cannot connect to containerd at %s: permission denied (run occ as root, or as a user allowed to use that socket): %w", path, errdefs.ErrPermissionDenied)
	case strings.Contains(msg, "unknown service"):
		err = fmt.Errorf("%s answers but is not containerd's gRPC socket (check containerd_address): %w", path, err)
	default:
		err = fmt.Errorf("cannot connect to containerd at %s (is containerd running and is this its socket? `occ doctor` checks the setup): %w", path, err)
	}
	return &UnreachableError{Address: path, Err: err}
}

// WithNamespace returns ctx scoped to the client's namespace, for the core
// services (content, images, leases) that take the namespace from ctx.
func (c *Client) WithNamespace(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, c.Namespace)
}

// Close closes the connection to containerd.
func (c *Client) Close() error { return c.ctr.Close() }

// InNamespace is a client on the same connection scoped to namespace ns
// (and no snapshotter): for commands that look across namespaces.
// Closing either closes the shared connection.
func (c *Client) InNamespace(ns string) *Client {
	return &Client{ctr: c.ctr, Address: c.Address, Namespace: ns}
}

// Version is containerd's version and revision.
func (c *Client) Version(ctx context.Context) (containerd.Version, error) {
	return c.ctr.Version(c.WithNamespace(ctx))
}

// Namespaces lists containerd's namespaces.
func (c *Client) Namespaces(ctx context.Context) ([]string, error) {
	return c.ctr.NamespaceService().List(c.WithNamespace(ctx))
}

// ManagedContainers lists the IDs of the containers occ manages (the
// meta.ManagedByLabel label) in the client's namespace.
func (c *Client) ManagedContainers(ctx context.Context) ([]string, error) {
	list, err := c.ctr.Containers(c.WithNamespace(ctx), fmt.Sprintf("labels.%q==%s", meta.ManagedByLabel, meta.ManagedByValue))
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(list))
	for _, ctr := range list {
		ids = append(ids, ctr.ID())
	}
	return ids, nil
}

// ContentStore is containerd's content store (pass a ctx from WithNamespace).
func (c *Client) ContentStore() content.Store { return c.ctr.ContentStore() }

// ImageService is containerd's image records (pass a ctx from WithNamespace).
func (c *Client) ImageService() images.Store { return c.ctr.ImageService() }

// LeasesService is containerd's lease manager (pass a ctx from WithNamespace).
func (c *Client) LeasesService() leases.Manager { return c.ctr.LeasesService() }

// ImageSize is the size of img's content for the client's platform: its
// manifest, config and compressed layers as stored.
func (c *Client) ImageSize(ctx context.Context, img images.Image) (int64, error) {
	return containerd.NewImage(c.ctr, img).Size(c.WithNamespace(ctx))
}

// SnapshotterPlugin is what containerd says about snapshotter name:
// whether it has it, and the error it failed to load with ("" when it
// loaded).
func (c *Client) SnapshotterPlugin(ctx context.Context, name string) (found bool, initErr string, err error) {
	resp, err := c.ctr.IntrospectionService().Plugins(c.WithNamespace(ctx), "type==io.containerd.snapshotter.v1,id=="+name)
	if err != nil {
		return false, "", err
	}
	if len(resp.Plugins) == 0 {
		return false, "", nil
	}
	if ie := resp.Plugins[0].InitErr; ie != nil {
		return true, ie.Message, nil
	}
	return true, "", nil
}

// ConnectConfig connects to the containerd, namespace and snapshotter the
// config names.
func ConnectConfig(ctx context.Context, cfg *meta.Config) (*Client, error) {
	return Connect(ctx, cfg.ContainerdAddress(), cfg.ContainerdNamespace, cfg.Snapshotter)
}
