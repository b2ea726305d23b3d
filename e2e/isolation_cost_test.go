//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// TestIsolationStartCost measures what the isolation costs the real
// sandbox's create and start-to-ready time: OCC_E2E_ISOLATION_COST=N
// rounds, each a fresh create, start and wait for ready with the
// isolation off (seccomp, apparmor, userns false; no limits) and on (the
// defaults), alternating so that a busy machine weighs on both. A
// benchmark, not a test: skipped unless asked for (docs/security.md has
// the figures).
func TestIsolationStartCost(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("OCC_E2E_ISOLATION_COST"))
	if rounds <= 0 {
		t.Skip("set OCC_E2E_ISOLATION_COST=N to measure N rounds")
	}
	e := setup(t)
	e.must("", "config", "set", "cni_plugin_dirs", "/usr/lib/cni,/opt/cni/bin")
	theSandboxImage(t)
	client, err := runtime.Connect(e.ctx, testutil.RequireTestbed(t).Containerd, builtNamespace, "overlayfs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	slot := (os.Getpid() + 151) % 200
	type sample struct{ create, start, ready time.Duration }
	results := map[bool][]sample{}
	for i := 0; i < rounds; i++ {
		for _, isolated := range []bool{false, true} {
			cfg := meta.DefaultConfig()
			cfg.OpencodeWebPort = freePort(t)
			cfg.CNIPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
			if !isolated {
				cfg.Seccomp, cfg.AppArmor, cfg.UserNS, cfg.PidsLimit, cfg.MemoryLimit, cfg.CPULimit = false, false, false, 0, meta.LimitNone, meta.LimitNone
			}
			sb, err := runtime.NewSandbox(client, runtime.SpecOptions{Config: cfg, Paths: e.paths, RunDir: e.runDir, Name: fmt.Sprintf("occ-e2e-cost-%d-%v", i, isolated),
				Network: runtime.NetworkOptions{Name: fmt.Sprintf("occ-e2e-cost-%d", slot), Bridge: fmt.Sprintf("occcost%d", slot),
					Subnet: fmt.Sprintf("10.218.%d.0/24", slot)},
				ExtraEnv: []string{"OPENCODE_CLOUD_OFFLINE=1"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := sb.Remove(e.ctx, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			if err := sb.Create(e.ctx); err != nil {
				t.Fatal(err)
			}
			t1 := time.Now()
			if err := sb.Start(e.ctx); err != nil {
				t.Fatal(err)
			}
			t2 := time.Now()
			if err := sb.WaitReady(e.ctx, runtime.ReadyOptions{Timeout: 3 * time.Minute}); err != nil {
				t.Fatal(err)
			}
			s := sample{create: t1.Sub(t0), start: t2.Sub(t1), ready: time.Since(t1)}
			results[isolated] = append(results[isolated], s)
			t.Logf("round %d isolation %-5v: create %s, start (task running) %s, start to ready %s", i+1, isolated,
				s.create.Round(time.Millisecond), s.start.Round(time.Millisecond), s.ready.Round(time.Millisecond))
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err = sb.Remove(cctx, 10*time.Second)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = exec.Command("ip", "link", "del", fmt.Sprintf("occcost%d", slot)).Run()
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	for _, isolated := range []bool{false, true} {
		var c, st, r []time.Duration
		for _, s := range results[isolated] {
			c, st, r = append(c, s.create), append(st, s.start), append(r, s.ready)
		}
		t.Logf("isolation %-5v: median create %s, start %s, start to ready %s (%d rounds)",
			isolated, median(c).Round(time.Millisecond), median(st).Round(time.Millisecond), median(r).Round(time.Millisecond), rounds)
	}
}
