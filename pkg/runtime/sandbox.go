package runtime

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// ContainerPort is the port the sandbox serves on inside its network namespace.
const ContainerPort = 3000

// DefaultStopTimeout is how long Stop waits after SIGTERM before SIGKILL.
const DefaultStopTimeout = 30 * time.Second

// Default CNI network: occ's own bridge and subnet, so it never shares
// addresses or IPAM state with another runtime's network.
const (
	DefaultNetworkName = "opencode-cloud"
	DefaultBridge      = "occ0"
	DefaultSubnet      = "10.213.77.0/24"
)

// SpecOptions are the inputs of the sandbox container. Config and Paths are
// required; the rest default sensibly.
type SpecOptions struct {
	Config *meta.Config
	Paths  meta.Paths

	// Image is the local image record to run (default the instance's
	// current record, Paths.Images().Current). It must already exist in
	// containerd (pulled or built).
	Image string
	// Name is the container ID (default Paths.ContainerName()).
	Name string
	// RunDir holds volatile state that must not survive a reboot: network
	// namespace files, client FIFOs and runc's state. Default: DefaultRunDir.
	RunDir string
	// Network overrides the CNI bridge network (name, bridge, subnet).
	Network NetworkOptions
	// IPAMDir is host-local IPAM's store (default DefaultIPAMDir): one for
	// the host, so that every occ setup on the bridge draws from it.
	IPAMDir string
	// ExtraEnv is appended after everything else (tests, future features).
	ExtraEnv []string
	// LogDriver is the absolute path of the occ binary, which the shim runs
	// as the container's logging binary (`occ log-driver PATH`): timestamped
	// lines, rotated at MaxLogSize by the driver itself. Empty: the shim
	// appends raw output to the log file, which occ caps only when it runs.
	LogDriver string
}

// NetworkOptions name occ's CNI network.
type NetworkOptions struct {
	Name   string // CNI network name (default DefaultNetworkName)
	Bridge string // Linux bridge name (default DefaultBridge)
	Subnet string // IPv4 subnet for host-local IPAM (default DefaultSubnet)
}

// DefaultRunDir is where volatile state goes: /run/opencode-cloud for root,
// $XDG_RUNTIME_DIR/opencode-cloud for other users, else <data dir>/run.
func DefaultRunDir(p meta.Paths) string {
	if os.Geteuid() == 0 {
		return "/run/" + meta.AppName
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		return filepath.Join(d, meta.AppName)
	}
	return filepath.Join(p.DataDir, "run")
}

// DefaultIPAMDir is where host-local IPAM keeps the addresses it handed
// out on occ's bridge: one store per host (per user without root), never
// per data directory or run directory, so that two occ setups (other data
// directories, other containerd daemons) sharing the bridge never hand out
// one address twice. Under /run (or $XDG_RUNTIME_DIR) like the bridge
// itself, it goes with a reboot. Root's is /run/opencode-cloud-cni, beside
// rather than in /run/opencode-cloud: a rootless occ (root in rootlesskit's
// namespaces, whose /run is a copy of the host's) must not find a
// /run/opencode-cloud it cannot write. In rootlesskit's namespaces the
// bridge is that daemon's, and the store is the user's.
func DefaultIPAMDir(p meta.Paths) string {
	if os.Geteuid() == 0 && !InRootlessChild() {
		return filepath.Join("/run", meta.AppName+"-cni")
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		return filepath.Join(d, meta.AppName, "cni", "ipam")
	}
	return legacyIPAMDir(p)
}

// legacyIPAMDir is the per-data-directory store occ used before
// DefaultIPAMDir.
func legacyIPAMDir(p meta.Paths) string { return filepath.Join(p.DataDir, "cni", "ipam") }

// CNIID is the id a container is known by to CNI (IPAM leases, portmap
// and masquerade chains): namespace-container and 8 hex digits of the
// FNV-1a hash of containerd's address, so that the same namespace and
// container on two containerd daemons do not share leases.
func CNIID(address, namespace, container string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(strings.TrimPrefix(address, "unix://")))
	return fmt.Sprintf("%s-%s-%08x", namespace, container, h.Sum32())
}

// Sandbox is occ's handle on the sandbox container. It holds no state of its
// own beyond its options (and, between Start and WaitReady in one process,
// the log lines before the start): everything a later occ process needs
// lives in containerd (container labels) and on disk.
type Sandbox struct {
	client *Client
	opts   SpecOptions
	name   string
	// logBeforeStart: the log's newest lines before Start created the task
	// (WaitReady's fatal-line scan looks only at what came after them).
	logBeforeStart []string
}

// NewSandbox validates the options and returns a handle. It does not touch
// containerd.
func NewSandbox(c *Client, opts SpecOptions) (*Sandbox, error) {
	if c == nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("runtime: no containerd client")
	}
	if opts.Config == nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("runtime: no config")
	}
	if opts.Paths.DataDir == "" {
		return nil, errdefs.ErrInvalidArgument.WithMessage("runtime: no data directory")
	}
	if opts.Image == "" {
		opts.Image = opts.Paths.Images().Current
	}
	if opts.Name == "" {
		opts.Name = opts.Paths.ContainerName()
	}
	if opts.IPAMDir == "" {
		opts.IPAMDir = DefaultIPAMDir(opts.Paths)
	}
	if opts.RunDir == "" {
		opts.RunDir = DefaultRunDir(opts.Paths)
	}
	if opts.Network.Name == "" {
		opts.Network.Name = DefaultNetworkName
	}
	if opts.Network.Bridge == "" {
		opts.Network.Bridge = DefaultBridge
	}
	if opts.Network.Subnet == "" {
		opts.Network.Subnet = DefaultSubnet
	}
	return &Sandbox{client: c, opts: opts, name: opts.Name}, nil
}

// Name is the container ID.
func (s *Sandbox) Name() string { return s.name }

// LogPath is the file the shim writes the container's stdout and stderr to.
func (s *Sandbox) LogPath() string {
	return filepath.Join(s.opts.Paths.LogsDir(), s.name+".log")
}

// networkMode is cni unless the config says host.
func (s *Sandbox) networkMode() string {
	if s.opts.Config.NetworkMode == meta.NetworkHost {
		return meta.NetworkHost
	}
	return meta.NetworkCNI
}

// bindAddress is the configured host address (default 127.0.0.1), as a
// bare IP: "localhost" is 127.0.0.1 and "[::1]" is ::1, which portmap,
// net.JoinHostPort and the server's OPENCODE_HOST all need.
func (s *Sandbox) bindAddress() string {
	if a := s.opts.Config.BindAddress; a != "" {
		return meta.CanonicalBindAddress(a)
	}
	return "127.0.0.1"
}

func (s *Sandbox) port() int {
	if p := s.opts.Config.OpencodeWebPort; p > 0 {
		return p
	}
	return 3000
}

// PublishedAddress is bind_address:opencode_web_port as configured.
func (s *Sandbox) PublishedAddress() string {
	return net.JoinHostPort(s.bindAddress(), strconv.Itoa(s.port()))
}

// ProbeAddress is the address to connect to for readiness and health: the
// published one, with a wildcard bind address replaced by loopback.
func ProbeAddress(published string) string {
	host, port, err := net.SplitHostPort(published)
	if err != nil {
		return published
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func (s *Sandbox) ctx(ctx context.Context) context.Context { return s.client.WithNamespace(ctx) }

// container loads the container record; errdefs.ErrNotFound when missing.
func (s *Sandbox) container(ctx context.Context) (containerd.Container, error) {
	c, err := s.client.ctr.LoadContainer(s.ctx(ctx), s.name)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("container %s does not exist (run `occ start` to create it): %w", s.name, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("load container %s: %w", s.name, err)
	}
	return c, nil
}

// Exists says whether the container record exists.
func (s *Sandbox) Exists(ctx context.Context) (bool, error) {
	_, err := s.container(ctx)
	if errors.Is(err, errdefs.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
