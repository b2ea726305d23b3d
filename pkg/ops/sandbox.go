package ops

import (
	"os"
	"path/filepath"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// RunDirEnv overrides where the sandbox's volatile state (runc state, netns
// files, FIFOs) goes. It lets several occ instances with their own
// containerd share one host (tests, side-by-side installs) without their
// runc state colliding; normally unset.
const RunDirEnv = "OCC_RUN_DIR"

// CNIBridgeEnv and CNISubnetEnv override the CNI bridge (also the network's
// name) and its subnet, so that several occ instances with their own data
// directories (whose IPAM state is their own) do not hand out the same
// addresses on one bridge (tests sharing a host); normally unset.
const (
	CNIBridgeEnv = "OCC_CNI_BRIDGE"
	CNISubnetEnv = "OCC_CNI_SUBNET"
)

// SandboxFor returns a handle on the sandbox container for cfg (it does not
// touch containerd).
func SandboxFor(rt *runtime.Client, cfg *meta.Config, paths meta.Paths) (*runtime.Sandbox, error) {
	opts := runtime.SpecOptions{Config: cfg, Paths: paths}
	// This binary is the container's logging binary (`occ log-driver`):
	// timestamped lines, rotated while no occ runs.
	if exe, err := os.Executable(); err == nil {
		if p, err := filepath.EvalSymlinks(exe); err == nil {
			exe = p
		}
		opts.LogDriver = exe
	}
	if d := os.Getenv(RunDirEnv); filepath.IsAbs(d) {
		opts.RunDir = d
	}
	if b := os.Getenv(CNIBridgeEnv); b != "" {
		opts.Network.Name, opts.Network.Bridge = b, b
	}
	opts.Network.Subnet = os.Getenv(CNISubnetEnv)
	return runtime.NewSandbox(rt, opts)
}
