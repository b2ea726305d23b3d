//go:build integration

package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// tbdRun runs hack/testbed CMD for the testbed in dir (registry on port).
func tbdRun(t testing.TB, dir string, port int, cmd string) error {
	t.Helper()
	c := exec.Command("hack/testbed", cmd)
	c.Dir = ".."
	c.Env = append(os.Environ(), "OCC_TESTBED_DIR="+dir, fmt.Sprintf("OCC_TESTBED_REGISTRY_PORT=%d", port))
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("hack/testbed %s: %w\n%s", cmd, err, out)
	}
	t.Logf("hack/testbed %s:\n%s", cmd, out)
	return nil
}

// tbdMountsUnder lists the mount points under any of the prefixes.
func tbdMountsUnder(t testing.TB, prefixes ...string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mps []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		for _, p := range prefixes {
			if fields[4] == p || strings.HasPrefix(fields[4], p+"/") {
				mps = append(mps, fields[4])
			}
		}
	}
	return mps
}

// The README's flow, cheaply: an occ sandbox running on a testbed (as
// `make demo` leaves it), `hack/testbed down` (as `make test` ends), then
// the testbed up again and the sandbox started again (the second `make
// demo`). down must stop the sandbox through occ and leave nothing of it
// on the host: no network namespace or mount, no veth on occ's bridge, no
// IPAM lease, no iptables rule, no shim; of a sandbox instance's neither.
func TestTestbedDownStopsOccSandbox(t *testing.T) {
	e := rtTestbed(t)
	ref := rtAppImage(t, e) // from the main testbed's registry
	dir := fmt.Sprintf("/tmp/occ-tbd-%d", os.Getpid())
	port := rtFreePort(t)
	// Cleanups run last-registered first: the testbed goes down (stopping
	// the sandbox through occ) before the bridge and occ's directories.
	base, err := os.MkdirTemp("", "occ-tbd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	slot := (os.Getpid() + 131) % 250
	netOpts := runtime.NetworkOptions{
		Name:   fmt.Sprintf("occ-tbd-%d", slot),
		Bridge: fmt.Sprintf("occtbd%d", slot),
		Subnet: fmt.Sprintf("10.215.%d.0/24", slot),
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", netOpts.Bridge).Run() })
	t.Cleanup(func() {
		if err := tbdRun(t, dir, port, "down"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	cfg := meta.DefaultConfig()
	cfg.OpencodeWebPort = rtFreePort(t)
	cfg.CNIPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	paths := meta.Paths{ConfigFile: filepath.Join(base, "config", "config.json"), DataDir: filepath.Join(base, "data")}
	runDir := filepath.Join(base, "run")
	const ns, name = "occ-tbd-test", "occ-tbd-sandbox"
	cniID := runtime.CNIID(filepath.Join(dir, "run", "containerd.sock"), ns, name)
	// A sandbox instance beside it, under its own names: down stops it too.
	instPaths := paths.WithInstance("tbd")
	instID := runtime.CNIID(filepath.Join(dir, "run", "containerd.sock"), ns, instPaths.ContainerName())
	instCfg := *cfg
	instCfg.OpencodeWebPort = rtFreePort(t)

	start := func(cfg *meta.Config, paths meta.Paths, name string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		client, err := runtime.Connect(ctx, filepath.Join(dir, "run", "containerd.sock"), ns, "overlayfs")
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		rtPull(client.WithNamespace(ctx), t, ctrd(t, client), ref, rtLocalImage)
		sb, err := runtime.NewSandbox(client, runtime.SpecOptions{
			Config: cfg, Paths: paths, Image: rtLocalImage, Name: name, RunDir: runDir, Network: netOpts,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := sb.Create(ctx); err != nil {
			t.Fatalf("create: %v", err)
		}
		if err := sb.Start(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
		if err := sb.WaitReady(ctx, runtime.ReadyOptions{}); err != nil {
			t.Fatalf("wait ready: %v", err)
		}
		rtGet(t, fmt.Sprintf("http://127.0.0.1:%d/", cfg.OpencodeWebPort))
	}

	t0 := time.Now()
	if err := tbdRun(t, dir, port, "up"); err != nil {
		t.Fatal(err)
	}
	t.Logf("testbed up: %s", time.Since(t0).Round(time.Millisecond))
	chainsBefore := rtIptablesChains(t)
	start(cfg, paths, name)
	start(&instCfg, instPaths, "") // the instance's own container name
	if ports := rtBridgePorts(t, netOpts.Bridge); len(ports) != 2 {
		t.Fatalf("veths on %s: %v", netOpts.Bridge, ports)
	}

	t1 := time.Now()
	if err := tbdRun(t, dir, port, "down"); err != nil {
		t.Fatal(err)
	}
	t.Logf("testbed down with a running sandbox: %s", time.Since(t1).Round(time.Millisecond))
	if ents, err := os.ReadDir(filepath.Join(runDir, "netns")); err == nil && len(ents) > 0 {
		t.Errorf("network namespace files left: %v", ents)
	}
	if mps := tbdMountsUnder(t, runDir, dir); len(mps) > 0 {
		t.Errorf("mounts left: %v", mps)
	}
	if ports := rtBridgePorts(t, netOpts.Bridge); len(ports) != 0 {
		t.Errorf("veths left on %s: %v", netOpts.Bridge, ports)
	}
	ipam := filepath.Join(runtime.DefaultIPAMDir(paths), netOpts.Name)
	if ents, err := os.ReadDir(ipam); err == nil {
		for _, e := range ents {
			if b, _ := os.ReadFile(filepath.Join(ipam, e.Name())); strings.HasPrefix(string(b), cniID) || strings.HasPrefix(string(b), instID) {
				t.Errorf("IPAM lease left: %s", e.Name())
			}
		}
	}
	if txt := rtIptablesText(t); strings.Contains(txt, cniID) || strings.Contains(txt, instID) || strings.Contains(txt, strings.TrimSuffix(netOpts.Subnet, "0/24")) {
		t.Errorf("iptables still mentions %s or its subnet %s", cniID, netOpts.Subnet)
	}
	if ents, err := os.ReadDir("/var/lib/cni/results"); err == nil {
		for _, e := range ents {
			if strings.Contains(e.Name(), cniID) || strings.Contains(e.Name(), instID) {
				t.Errorf("libcni cache entry left: %s", e.Name())
			}
		}
	}
	for ch := range rtIptablesChains(t) {
		if !chainsBefore[ch] && strings.HasPrefix(ch, "CNI-") && !strings.HasPrefix(ch, "CNI-HOSTPORT-") && ch != "CNI-FORWARD" && ch != "CNI-ADMIN" {
			t.Errorf("iptables chain left behind: %s", ch)
		}
	}
	if out, _ := exec.Command("pgrep", "-f", "containerd-shim.*"+dir).Output(); len(out) > 0 {
		t.Errorf("shims left: %s", out)
	}

	// The second make demo: testbed up, the sandbox created and started again.
	if err := tbdRun(t, dir, port, "up"); err != nil {
		t.Fatal(err)
	}
	start(cfg, paths, name)
	start(&instCfg, instPaths, "")
}
