//go:build integration

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/runtime/restart"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// rtBridgePorts lists the interfaces enslaved to the bridge (the host ends
// of the containers' veths).
func rtBridgePorts(t testing.TB, bridge string) []string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show", "master", bridge).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "does not exist") {
			return nil
		}
		t.Fatalf("ip link show master %s: %v: %s", bridge, err, out)
	}
	var ports []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			ports = append(ports, strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":"))
		}
	}
	return ports
}

// When containerd forgets a running sandbox (its state wiped, containerd
// reinstalled, the container deleted with another tool, the testbed torn
// down under it), the IPAM store in occ's data directory still holds the
// sandbox's address and its namespace, veth and iptables rules stay. The
// next start must release them (a CNI DEL for its own id) instead of
// failing with "… has been allocated to <id>, duplicate allocation is not
// allowed", and a stop must then leave nothing behind.
func TestRuntimeStartAfterForgotten(t *testing.T) {
	for _, tc := range []struct {
		name      string
		wipeRunNS bool // the run directory went too (a reboot): only the IPAM store is left
	}{
		{name: "deleted"},
		{name: "rebooted", wipeRunNS: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newRTFixture(t, nil)
			chainsBefore := rtIptablesChains(t)
			f.start()
			ctx := f.client.WithNamespace(f.ctx)
			c, err := ctrd(t, f.client).LoadContainer(ctx, f.name)
			if err != nil {
				t.Fatal(err)
			}
			labels, err := c.Labels(ctx)
			if err != nil {
				t.Fatal(err)
			}
			oldNS := labels[meta.LabelContainerNetNS]
			oldIP := labels[meta.LabelContainerIPs]
			if oldNS == "" || oldIP == "" {
				t.Fatalf("no netns/IP labels after start: %q %q", oldNS, oldIP)
			}
			oldPorts := rtBridgePorts(t, f.netOpts.Bridge)
			if len(oldPorts) != 1 {
				t.Fatalf("veths on %s after start: %v", f.netOpts.Bridge, oldPorts)
			}
			// containerd forgets the sandbox: task killed and deleted, container
			// record and snapshot deleted, none of it through occ.
			if _, err := c.SetLabels(ctx, map[string]string{restart.StatusLabel: ""}); err != nil {
				t.Fatal(err)
			}
			task, err := c.Task(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
				t.Fatal(err)
			}
			if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
				t.Fatal(err)
			}
			if tc.wipeRunNS {
				if err := syscall.Unmount(oldNS, syscall.MNT_DETACH); err != nil {
					t.Fatal(err)
				}
				if err := os.RemoveAll(filepath.Join(f.runDir, "netns")); err != nil {
					t.Fatal(err)
				}
				rtEventually(t, "the old veth to go with its namespace", 10*time.Second, func() bool {
					return len(rtBridgePorts(t, f.netOpts.Bridge)) == 0
				})
			}
			lease := filepath.Join(runtime.DefaultIPAMDir(f.paths), f.netOpts.Name, oldIP)
			if _, err := os.Stat(lease); err != nil {
				t.Fatalf("the scenario needs the stale IPAM lease: %v", err)
			}

			f.start() // fails with "duplicate allocation is not allowed" without the release
			rtGet(t, f.url("/"))
			if ports := rtBridgePorts(t, f.netOpts.Bridge); len(ports) != 1 || (!tc.wipeRunNS && ports[0] == oldPorts[0]) {
				t.Errorf("veths on %s after the second start: %v (old: %v)", f.netOpts.Bridge, ports, oldPorts)
			}
			if _, err := os.Stat(oldNS); err == nil {
				t.Errorf("old namespace %s still there", oldNS)
			}
			if err := f.sb.Remove(f.ctx, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			rtAssertNoNetworkLeftovers(t, f, chainsBefore)
			if txt := rtIptablesText(t); strings.Contains(txt, strings.TrimSuffix(f.netOpts.Subnet, "0/24")) {
				t.Errorf("iptables still mentions the subnet %s", f.netOpts.Subnet)
			}
			if ports := rtBridgePorts(t, f.netOpts.Bridge); len(ports) != 0 {
				t.Errorf("veths left on %s: %v", f.netOpts.Bridge, ports)
			}
		})
	}
}
