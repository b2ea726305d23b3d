//go:build integration

package integration

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// TestCommandsDoctor runs occ doctor against the testbed: everything in
// place; BuildKit missing while image_source is build; a registry that
// does not answer while image_source is prebuilt.
func TestCommandsDoctor(t *testing.T) {
	e := rtTestbed(t)
	t.Run("all present", func(t *testing.T) {
		tag := pushVersionedApp(t, meta.Version)
		f := newCmdFixture(t, func(c *meta.Config) {
			c.NetworkMode = meta.NetworkCNI
			c.CNIPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
			c.ImageRepositories = []string{e.registry + "/test/runtime-app", e.registry + "/test/not-published"}
			c.ImageTag = tag
		})
		r := f.mustOK("doctor")
		// The user namespace runs on the testbed's runc 1.5.3; on the containerd 1.6 leg (Debian's
		// runc 1.1.5 only) it is off, as the refusal says.
		userns := []string{"[ok  ] user namespace", "runc-v1.5.3/runc"}
		if !tbLeg(t).userns {
			userns = []string{"[warn] user namespace", "off: the sandbox's ids are the host's", "Fix: occ config set userns true"}
		}
		wantContains(t, "doctor", r.stdout,
			"[ok  ] containerd socket", "[ok  ] containerd version", "[ok  ] snapshotter", "[ok  ] runc",
			"[ok  ] CNI plugins", "[ok  ] iptables", "[ok  ] BuildKit", "containerd worker",
			"[ok  ] registry "+e.registry+"/test/runtime-app", "reachable (sha256:", "occ sandbox "+meta.Version,
			"signature not checked (image_verify off)",
			"[warn] registry "+e.registry+"/test/not-published", "not found",
			"[ok  ] seccomp", "[ok  ] AppArmor", "[ok  ] limits", "pids 4096", "Everything needed is in place")
		wantContains(t, "doctor", r.stdout, userns...)
	})
	// A repository serving an image occ cannot run (upstream's, or any
	// image without the version label) is said before a pull records it.
	t.Run("not an occ sandbox", func(t *testing.T) {
		f := newCmdFixture(t, func(c *meta.Config) {
			c.ImageRepositories = []string{e.registry + "/test/busybox"}
		})
		r := f.occ("doctor")
		if r.code != 1 {
			t.Fatalf("doctor should fail: %s", r)
		}
		wantContains(t, "doctor", r.stdout, "[FAIL] registry "+e.registry+"/test/busybox", "NOT an occ sandbox image",
			"no "+meta.ImageVersionLabel+" label", "Fix: use occ's own sandbox: occ config set image_repositories "+meta.DefaultImageRepositories[0])
	})
	t.Run("BuildKit missing", func(t *testing.T) {
		f := newCmdFixture(t, func(c *meta.Config) {
			c.ImageSource = meta.SourceBuild
			c.BuildkitAddr = "unix:///nonexistent/occ-test/buildkitd.sock"
		})
		r := f.occ("doctor")
		if r.code != 1 {
			t.Fatalf("doctor should fail: %s", r)
		}
		wantContains(t, "doctor", r.stdout, "[FAIL] BuildKit", "not reachable at unix:///nonexistent/occ-test/buildkitd.sock",
			"Fix: start buildkitd", "[ok  ] containerd socket", "1 problem(s) must be fixed")
		r = f.occ("doctor", "--json")
		var res []map[string]string
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 1 {
			t.Fatalf("doctor --json: %v %s", err, r)
		}
		found := false
		for _, c := range res {
			if c["name"] == "BuildKit" {
				found = c["status"] == "fail" && strings.Contains(c["fix"], "buildkitd")
			}
		}
		if !found {
			t.Errorf("doctor --json has no failed BuildKit check: %s", r.stdout)
		}
		// Without a build, BuildKit is only a warning.
		f.cfg.ImageSource = meta.SourcePrebuilt
		f.cfg.ImageTag = pushVersionedApp(t, meta.Version)
		f.saveConfig()
		r = f.mustOK("doctor")
		wantContains(t, "doctor (prebuilt)", r.stdout, "[warn] BuildKit", "needed only to build from source")
	})
	t.Run("registry down", func(t *testing.T) {
		f := newCmdFixture(t, func(c *meta.Config) {
			c.ImageRepositories = []string{"127.0.0.1:1/nothing/here"}
		})
		r := f.occ("doctor")
		if r.code != 1 {
			t.Fatalf("doctor should fail: %s", r)
		}
		wantContains(t, "doctor", r.stdout, "[FAIL] registry 127.0.0.1:1/nothing/here", "connection refused", "Fix:")
	})
}
