package main

import (
	"context"
	"net"
	"os"
	"path/filepath"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// runDirEnv overrides where the sandbox's volatile state (runc state, netns
// files, FIFOs) goes. It lets several occ instances with their own
// containerd share one host (tests, side-by-side installs) without their
// runc state colliding; normally unset.
const runDirEnv = "OCC_RUN_DIR"

// cniBridgeEnv and cniSubnetEnv override the CNI bridge (also the network's
// name) and its subnet, so that several occ instances with their own data
// directories (whose IPAM state is their own) do not hand out the same
// addresses on one bridge (tests sharing a host); normally unset.
const (
	cniBridgeEnv = "OCC_CNI_BRIDGE"
	cniSubnetEnv = "OCC_CNI_SUBNET"
)

// openSandbox dials containerd for cfg and returns a handle on the sandbox
// container. The caller closes the client.
func (a *App) openSandbox(ctx context.Context, cfg *meta.Config) (*runtime.Client, *runtime.Sandbox, error) {
	rt, err := runtime.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	sb, err := a.sandboxFor(rt, cfg)
	if err != nil {
		rt.Close()
		return nil, nil, err
	}
	a.tidyAfterKilled(ctx, rt)
	return rt, sb, nil
}

// sandboxFor returns a handle on the sandbox container for cfg (it does not
// touch containerd).
func (a *App) sandboxFor(rt *runtime.Client, cfg *meta.Config) (*runtime.Sandbox, error) {
	opts := runtime.SpecOptions{Config: cfg, Paths: a.Paths}
	// This binary is the container's logging binary (`occ log-driver`):
	// timestamped lines, rotated while no occ runs.
	if exe, err := os.Executable(); err == nil {
		if p, err := filepath.EvalSymlinks(exe); err == nil {
			exe = p
		}
		opts.LogDriver = exe
	}
	if d := os.Getenv(runDirEnv); filepath.IsAbs(d) {
		opts.RunDir = d
	}
	if b := os.Getenv(cniBridgeEnv); b != "" {
		opts.Network.Name, opts.Network.Bridge = b, b
	}
	opts.Network.Subnet = os.Getenv(cniSubnetEnv)
	return runtime.NewSandbox(rt, opts)
}

func splitHostPort(a string) (string, string, error) { return net.SplitHostPort(a) }
