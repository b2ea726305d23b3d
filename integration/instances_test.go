//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/ops"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// instSandbox is one sandbox of TestInstancesTwoSetups: an occ setup (its
// config and data directories) and an instance in it.
type instSandbox struct {
	label    string // for messages
	setup    *instSetup
	instance string // "" the default
	user     string // its only login user
	port     int
}

// instSetup is one occ installation of its own (data, config and run
// directories) on the testbed's containerd, in a namespace of its own.
type instSetup struct {
	in     testutil.Install
	ns     string
	client *runtime.Client
}

func (s *instSandbox) paths() meta.Paths { return s.setup.in.Paths.WithInstance(s.instance) }

func (s *instSandbox) args(args ...string) []string {
	if s.instance == "" {
		return args
	}
	return append([]string{"--sandbox-instance", s.instance}, args...)
}

func (s *instSandbox) url(path string) string { return "http://127.0.0.1:" + itoa(s.port) + path }

// TestInstancesTwoSetups runs three sandboxes at once on the testbed's
// containerd and occ's default bridge (no OCC_CNI_* overrides): two occ
// setups with their own data directories (and namespaces), the first with
// a second instance. Through start, update, a failed update's automatic
// rollback and update --rollback, every sandbox keeps an address of its
// own on the bridge and answers on its own port, and none sees another's
// users or data.
func TestInstancesTwoSetups(t *testing.T) {
	e := rtTestbed(t)
	bin := testutil.OccBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	repo := e.registry + "/test/instances"
	d1 := pushAppVariant(t, repo+":latest", func(c *v1.Config) { c.Env = append(c.Env, "RELEASE=1") })

	newSetup := func(ns string) *instSetup {
		base, err := os.MkdirTemp("", "occ-inst-")
		if err != nil {
			t.Fatal(err)
		}
		s := &instSetup{in: testutil.NewInstall(t, base), ns: ns}
		if s.client, err = runtime.Connect(ctx, e.containerd, ns, "overlayfs"); err != nil {
			t.Fatalf("connect: %v", err)
		}
		return s
	}
	a, b := newSetup("occ-inst-a"), newSetup("occ-inst-b")
	boxes := []*instSandbox{
		{label: "setup A", setup: a, user: "alice", port: rtFreePort(t)},
		{label: "setup A, instance two", setup: a, instance: "two", user: "bob", port: rtFreePort(t)},
		{label: "setup B", setup: b, user: "carol", port: rtFreePort(t)},
	}
	run := func(s *instSandbox, stdin string, args ...string) occResult {
		t.Helper()
		return resultOf(testutil.Run(ctx, t, bin, s.setup.in.Env, stdin, 3*time.Minute, s.args(args...)...))
	}
	mustOK := func(s *instSandbox, args ...string) occResult {
		t.Helper()
		r := run(s, "", args...)
		if r.code != 0 {
			t.Fatalf("%s: occ %s: %s", s.label, strings.Join(s.args(args...), " "), r)
		}
		return r
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer ccancel()
		for _, s := range boxes {
			if r := resultOf(testutil.Run(cctx, t, bin, s.setup.in.Env, "", time.Minute, s.args("stop", "--remove", "-t", "2")...)); r.code != 0 {
				t.Errorf("cleanup: %s: stop --remove: %s", s.label, r)
			}
			im := s.paths().Images()
			for _, n := range []string{im.Current, im.Previous, im.Update} {
				if err := s.setup.client.ImageService().Delete(s.setup.client.WithNamespace(cctx), n); err != nil && !errdefs.IsNotFound(err) {
					t.Errorf("cleanup: delete image %s: %v", n, err)
				}
			}
		}
		for _, s := range []*instSetup{a, b} {
			s.client.Close()
			if err := os.RemoveAll(s.in.Base); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})

	// Each setup's default config: the bridge network, the test image.
	for _, s := range []*instSetup{a, b} {
		cfg := meta.DefaultConfig()
		cfg.ContainerdAddr, cfg.ContainerdNamespace = e.containerd, s.ns
		cfg.NetworkMode = meta.NetworkCNI
		cfg.CNIPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
		cfg.ImageRepositories, cfg.ImageTag = []string{repo}, "latest"
		cfg.ImageVerify, cfg.InsecureRegistries = meta.VerifyOff, []string{e.registry}
		cfg.BuildkitAddr = e.buildkit
		legConfig(t, cfg)
		if err := meta.SaveConfig(s.in.Paths.ConfigFile, cfg); err != nil {
			t.Fatal(err)
		}
	}
	// Instance two starts from setup A's config; its port is its own.
	for _, s := range boxes {
		mustOK(s, "config", "set", "opencode_web_port", itoa(s.port))
		if r := run(s, s.user+"-secret\n", "user", "add", s.user); r.code != 0 {
			t.Fatalf("%s: user add %s: %s", s.label, s.user, r)
		}
	}
	if cfg, _, err := meta.LoadConfig(a.in.Paths.ConfigFile); err != nil || cfg.OpencodeWebPort != boxes[0].port {
		t.Fatalf("instance two's config set changed setup A's config: %+v %v", cfg, err)
	}
	if _, err := os.Stat(boxes[1].paths().ConfigFile); err != nil || !strings.HasSuffix(boxes[1].paths().ConfigFile, "config-two.json") {
		t.Fatalf("instance two's config file: %v", err)
	}

	// ips reads each sandbox's bridge address from its container record,
	// and checks that no two share one and each answers on its port.
	check := func(when string) {
		t.Helper()
		owner := map[string]string{}
		for _, s := range boxes {
			c, err := ctrd(t, s.setup.client).LoadContainer(s.setup.client.WithNamespace(ctx), s.paths().ContainerName())
			if err != nil {
				t.Fatalf("%s: %s: container %s: %v", when, s.label, s.paths().ContainerName(), err)
			}
			l, err := c.Labels(s.setup.client.WithNamespace(ctx))
			if err != nil {
				t.Fatal(err)
			}
			ip := l[meta.LabelContainerIPs]
			if ip == "" {
				t.Errorf("%s: %s: no bridge address recorded", when, s.label)
			} else if other, dup := owner[ip]; dup {
				t.Errorf("%s: %s has %s, the address of %s", when, s.label, ip, other)
			}
			owner[ip] = s.label
			if l[meta.ManagedByLabel] != meta.ManagedByValue || l[meta.LabelInstance] != s.instance {
				t.Errorf("%s: %s: labels managed-by=%q instance=%q", when, s.label, l[meta.ManagedByLabel], l[meta.LabelInstance])
			}
			if got := rtGet(t, s.url("/"+s.user)); !strings.Contains(got, "hello from /"+s.user) {
				t.Errorf("%s: %s answers %q", when, s.label, got)
			}
		}
		t.Logf("%s: addresses %v", when, owner)
	}

	for _, s := range boxes {
		mustOK(s, "start")
	}
	check("after start")

	// Status names the instance and its own container, image and port.
	r := mustOK(boxes[1], "status")
	wantContains(t, "instance two's status", r.stdout,
		"Container:      opencode-cloud-sandbox-two", "Instance:       two\n",
		"Image:          opencode-cloud.local/sandbox:instance-two\n", "URL:            http://127.0.0.1:"+itoa(boxes[1].port))
	// instance list shows the setup's two, not setup B's.
	r = mustOK(boxes[0], "instance", "list")
	wantContains(t, "setup A's instance list", r.stdout, "(default)  opencode-cloud-sandbox  ", "two        opencode-cloud-sandbox-two  running  127.0.0.1:"+itoa(boxes[1].port))
	if n := strings.Count(r.stdout, "\n"); n != 3 {
		t.Errorf("setup A's instance list: %d lines, want a header and 2:\n%s", n, r.stdout)
	}
	r = mustOK(boxes[0], "instance", "list", "--json")
	var listed struct {
		Instances []ops.InstanceInfo `json:"instances"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed.Instances) != 2 ||
		listed.Instances[0].Instance != "" || listed.Instances[1].Instance != "two" ||
		listed.Instances[1].Container != "opencode-cloud-sandbox-two" || listed.Instances[1].State != "running" {
		t.Errorf("setup A's instance list --json: %v\n%s", err, r.stdout)
	}
	if r := mustOK(boxes[0], "status"); strings.Contains(r.stdout, "Instance:") || !strings.Contains(r.stdout, "Container:      opencode-cloud-sandbox (pid") {
		t.Errorf("the default instance's status:\n%s", r.stdout)
	}

	// Users and data: each sandbox has only its own.
	for _, s := range boxes {
		if err := os.WriteFile(filepath.Join(s.paths().VolumesDir(), "opencode-workspace", s.user+".txt"), []byte(s.label+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	isolated := func(when string) {
		t.Helper()
		for _, s := range boxes {
			r := mustOK(s, "user", "list", "-q")
			for _, o := range boxes {
				has := strings.Contains(r.stdout, o.user+"\n")
				if has != (o == s) {
					t.Errorf("%s: %s: user list shows %s: %v\n%s", when, s.label, o.user, has, r.stdout)
				}
				var out bytes.Buffer
				sb, err := runtime.NewSandbox(s.setup.client, runtime.SpecOptions{Config: meta.DefaultConfig(), Paths: s.paths(), RunDir: s.setup.in.RunDir})
				if err != nil {
					t.Fatal(err)
				}
				code, err := sb.Exec(ctx, runtime.ExecOptions{Args: []string{"cat", "/home/opencoder/workspace/" + o.user + ".txt"}, Stdout: &out, Stderr: &out})
				if seen := err == nil && code == 0; seen != (o == s) {
					t.Errorf("%s: %s sees %s's workspace file: %v (exit %d, %v: %q)", when, s.label, o.label, seen, code, err, out.String())
				}
			}
		}
	}
	isolated("after start")

	// Setup B updates: its recreated container gets a fresh address from
	// the one store for the bridge, not one that A's sandboxes hold.
	d2 := pushAppVariant(t, repo+":latest", func(c *v1.Config) { c.Env = append(c.Env, "RELEASE=2") })
	r = mustOK(boxes[2], "update", "--yes")
	wantContains(t, "setup B's update", r.stderr, "Updated to v"+meta.Version+" ("+d2)
	// Instance two too, then it rolls back with update --rollback.
	mustOK(boxes[1], "update", "--yes")
	check("after the updates")
	r = mustOK(boxes[1], "update", "--rollback", "--yes")
	wantContains(t, "instance two's rollback", r.stderr, "Rolled back to v"+meta.Version+" ("+d1)
	// Setup A's default instance: a release that dies at once is rolled
	// back by itself, onto an address of its own again.
	pushAppVariant(t, repo+":latest", func(c *v1.Config) { c.Env = append(c.Env, "RELEASE=3", "EXIT_AT_ONCE=1") })
	if r := run(boxes[0], "", "update", "--yes"); r.code == 0 || !strings.Contains(r.stderr, "Rolled back to v"+meta.Version+" ("+d1) {
		t.Errorf("setup A's update to a broken image: %s", r)
	}
	check("after update, rollback and a failed update")
	isolated("after update, rollback and a failed update")

	// The image records are each instance's own.
	for _, s := range boxes {
		img, err := s.setup.client.ImageService().Get(s.setup.client.WithNamespace(ctx), s.paths().Images().Current)
		if err != nil {
			t.Errorf("%s: current image: %v", s.label, err)
			continue
		}
		want := map[*instSandbox]string{boxes[0]: d1, boxes[1]: d1, boxes[2]: d2}[s]
		if img.Target.Digest.String() != want || img.Labels[meta.LabelInstance] != s.instance {
			t.Errorf("%s: current image %s (instance label %q), want %s", s.label, img.Target.Digest, img.Labels[meta.LabelInstance], want)
		}
	}
}
