package meta

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/errdefs"
)

// Endpoints are the daemon settings a command line flag or the environment
// overrides for one invocation (as nerdctl reads them): flag > environment
// > config file > default. An empty field (nil CNIPath) overrides nothing.
type Endpoints struct {
	ContainerdAddress string   // --address, $CONTAINERD_ADDRESS
	Namespace         string   // --namespace, $CONTAINERD_NAMESPACE
	Snapshotter       string   // --snapshotter, $CONTAINERD_SNAPSHOTTER
	BuildkitHost      string   // --buildkit-host, $BUILDKIT_HOST
	CNIPath           []string // --cni-path, $CNI_PATH (colon-separated)
}

// SplitCNIPath splits a CNI_PATH value (directories joined by ':', as the
// CNI spec's CNI_PATH) into its directories, dropping empty parts.
func SplitCNIPath(s string) []string {
	var out []string
	for _, d := range strings.Split(s, ":") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

// Validate checks the overrides; name says where each came from in the
// error ("--namespace or $CONTAINERD_NAMESPACE").
func (e Endpoints) Validate() error {
	bad := func(what, problem string) error {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s: %s", what, problem))
	}
	if e.ContainerdAddress != "" {
		if err := validateSocketAddress(e.ContainerdAddress, false); err != nil {
			return bad("--address / $CONTAINERD_ADDRESS", err.Error())
		}
	}
	if e.Namespace != "" {
		if err := identifiers.Validate(e.Namespace); err != nil {
			return bad("--namespace / $CONTAINERD_NAMESPACE", fmt.Sprintf("%q is not a valid containerd namespace", e.Namespace))
		}
	}
	if e.Snapshotter != "" {
		if err := identifiers.Validate(e.Snapshotter); err != nil {
			return bad("--snapshotter / $CONTAINERD_SNAPSHOTTER", fmt.Sprintf("%q is not a valid snapshotter name", e.Snapshotter))
		}
	}
	if e.BuildkitHost != "" {
		if err := validateSocketAddress(e.BuildkitHost, true); err != nil {
			return bad("--buildkit-host / $BUILDKIT_HOST", err.Error())
		}
	}
	for _, d := range e.CNIPath {
		if !filepath.IsAbs(d) {
			return bad("--cni-path / $CNI_PATH", fmt.Sprintf("%q must be an absolute path", d))
		}
	}
	return nil
}

// ApplyEndpoints sets cfg's daemon settings from e for this invocation.
// SaveConfig does not write them: a field still holding its override is
// saved with the value the file had, so a flag never ends up in the file.
func (c *Config) ApplyEndpoints(e Endpoints) {
	if c.fileEndpoints == nil {
		c.fileEndpoints = &Endpoints{ContainerdAddress: c.ContainerdAddr, Namespace: c.ContainerdNamespace,
			Snapshotter: c.Snapshotter, BuildkitHost: c.BuildkitAddr, CNIPath: slices.Clone(c.CNIPluginDirs)}
		c.overrides = &Endpoints{}
	}
	if e.ContainerdAddress != "" {
		c.ContainerdAddr, c.overrides.ContainerdAddress = e.ContainerdAddress, e.ContainerdAddress
	}
	if e.Namespace != "" {
		c.ContainerdNamespace, c.overrides.Namespace = e.Namespace, e.Namespace
	}
	if e.Snapshotter != "" {
		c.Snapshotter, c.overrides.Snapshotter = e.Snapshotter, e.Snapshotter
	}
	if e.BuildkitHost != "" {
		c.BuildkitAddr, c.overrides.BuildkitHost = e.BuildkitHost, e.BuildkitHost
	}
	if len(e.CNIPath) > 0 {
		c.CNIPluginDirs, c.overrides.CNIPath = slices.Clone(e.CNIPath), slices.Clone(e.CNIPath)
	}
}

// Overridden reports which daemon settings came from a flag or the
// environment (nil: none).
func (c *Config) Overridden() *Endpoints { return c.overrides }

// withoutOverrides is cfg as the file has it: every field that still holds
// its override gets the file's value back.
func (c Config) withoutOverrides() Config {
	f, o := c.fileEndpoints, c.overrides
	if f == nil {
		return c
	}
	if o.ContainerdAddress != "" && c.ContainerdAddr == o.ContainerdAddress {
		c.ContainerdAddr = f.ContainerdAddress
	}
	if o.Namespace != "" && c.ContainerdNamespace == o.Namespace {
		c.ContainerdNamespace = f.Namespace
	}
	if o.Snapshotter != "" && c.Snapshotter == o.Snapshotter {
		c.Snapshotter = f.Snapshotter
	}
	if o.BuildkitHost != "" && c.BuildkitAddr == o.BuildkitHost {
		c.BuildkitAddr = f.BuildkitHost
	}
	if o.CNIPath != nil && slices.Equal(c.CNIPluginDirs, o.CNIPath) {
		c.CNIPluginDirs = f.CNIPath
	}
	c.fileEndpoints, c.overrides = nil, nil
	return c
}
