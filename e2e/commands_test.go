//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/internal/testutil"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// cmdNamespace is the containerd namespace of TestCommandsEndToEnd: not
// the one the shared build landed in, so that its first start has no
// image and pulls.
const cmdNamespace = "occ-e2e-cmd"

// TestCommandsEndToEnd drives the service commands of the real occ binary
// against the real sandbox image, in the order a user meets them:
// refusals (conflicting image flags, no user), doctor with BuildKit
// missing, a first start that pulls the image published to the testbed
// registry, status showing where it came from, logs, stop and restart, and
// a start that rebuilds the image from source.
func TestCommandsEndToEnd(t *testing.T) {
	img := theSandboxImage(t) // built once, pushed to the testbed registry
	e := setup(t)
	port := freePort(t)
	// A bridge and subnet of this test's own: the IPAM state is per data
	// directory, so two occ instances on one bridge would hand out the
	// same addresses.
	slot := os.Getpid() % 200
	bridge := fmt.Sprintf("occe2ec%d", slot)
	e.occEnv = append(e.occEnv, "OCC_CNI_BRIDGE="+bridge, fmt.Sprintf("OCC_CNI_SUBNET=10.216.%d.0/24", slot))
	for _, kv := range [][2]string{
		{"containerd_namespace", cmdNamespace},
		{"containerd_address", testutil.RequireTestbed(t).Containerd},
		{"buildkit_address", testutil.RequireTestbed(t).Buildkit},
		{"image_repositories", img.Repo + "," + img.Mirror},
		{"insecure_registries", e.registry},
		// Signed by hack/publish-sandbox with a key of the test's own.
		{"image_verify", meta.VerifyRequire},
		{"image_verify_key", img.PubKey},
		{"opencode_web_port", strconv.Itoa(port)},
		{"cni_plugin_dirs", "/usr/lib/cni,/opt/cni/bin"},
	} {
		e.must("", "config", "set", kv[0], kv[1])
	}
	// No internet here: opencode must not wait for models.dev.
	e.must("1\n", "config", "env", "set", "OPENCODE_CLOUD_OFFLINE")

	client, err := runtime.Connect(e.ctx, testutil.RequireTestbed(t).Containerd, cmdNamespace, "overlayfs")
	if err != nil {
		t.Fatal(err)
	}
	// The namespace starts (and ends) without a container or sandbox image,
	// also after an interrupted run against a long-lived testbed.
	clean := func(ctx context.Context) {
		if code, out, errOut := e.run("", "stop", "--remove", "-t", "5"); code != 0 {
			t.Errorf("cleanup: occ stop --remove: exit %d\n%s%s", code, out, errOut)
		}
		for _, n := range []string{meta.CurrentImageName, meta.PreviousImageName} {
			if err := client.ImageService().Delete(client.WithNamespace(ctx), n); err != nil && !errdefs.IsNotFound(err) {
				t.Errorf("cleanup: delete image %s: %v", n, err)
			}
		}
	}
	clean(e.ctx)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			if _, out, _ := e.run("", "logs", "-n", "60", "--no-follow"); out != "" {
				t.Logf("sandbox log:\n%s", out)
			}
		}
		if os.Getenv("OCC_E2E_KEEP") != "" {
			t.Logf("OCC_E2E_KEEP: left the sandbox in namespace %s; config %s", cmdNamespace, e.paths.ConfigFile)
			client.Close()
			return
		}
		clean(cctx)
		client.Close()
		_ = exec.Command("ip", "link", "del", bridge).Run()
		_ = os.RemoveAll(e.runDir)
	})
	hasImage := func(t *testing.T) bool {
		_, err := client.ImageService().Get(client.WithNamespace(e.ctx), meta.CurrentImageName)
		if err != nil && !errdefs.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	g := &gateway{t: t, base: "http://127.0.0.1:" + strconv.Itoa(port), hc: &http.Client{
		Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}

	t.Run("refusals", func(t *testing.T) {
		e := e.with(t)
		for _, flags := range [][]string{
			{"--pull-sandbox-image", "--full-rebuild-sandbox-image"},
			{"--pull-sandbox-image", "--cached-rebuild-sandbox-image"},
			{"--cached-rebuild-sandbox-image", "--full-rebuild-sandbox-image"},
		} {
			code, _, errOut := e.run("", append([]string{"start"}, flags...)...)
			if code == 0 || !strings.Contains(errOut, "Only one of --pull-sandbox-image, --cached-rebuild-sandbox-image, or --full-rebuild-sandbox-image can be specified") {
				t.Errorf("occ start %s: exit %d, %s", strings.Join(flags, " "), code, errOut)
			}
		}
		code, _, errOut := e.run("", "start")
		if code == 0 || !strings.Contains(errOut, "Security not configured") || !strings.Contains(errOut, "occ user add <username>") {
			t.Errorf("occ start without a user: exit %d, %s", code, errOut)
		}
		if hasImage(t) {
			t.Error("the image was pulled although the start was refused")
		}
	})

	t.Run("doctor without BuildKit", func(t *testing.T) {
		e := e.with(t)
		// --buildkit-host wins over $BUILDKIT_HOST and the config.
		const dead = "unix:///nonexistent/occ-e2e/buildkitd.sock"
		// Building is what needs BuildKit: with image_source build it is a
		// failure and doctor exits non-zero ...
		e.must("", "config", "set", "image_source", "build")
		code, out, errOut := e.run("", "--buildkit-host", dead, "doctor")
		e.must("", "config", "set", "image_source", "prebuilt")
		if code == 0 {
			t.Errorf("occ doctor with BuildKit missing and image_source build exited 0:\n%s%s", out, errOut)
		}
		for _, want := range []string{"[FAIL] BuildKit", "not reachable at " + dead, "Fix: start buildkitd", "[ok  ] containerd socket", "problem(s) must be fixed"} {
			if !strings.Contains(out, want) {
				t.Errorf("occ doctor (image_source build): missing %q in:\n%s%s", want, out, errOut)
			}
		}
		// ... while pulling needs none: a warning.
		code, out, errOut = e.run("", "--buildkit-host", dead, "doctor")
		if !strings.Contains(out, "[warn] BuildKit") {
			t.Errorf("occ doctor (image_source prebuilt): exit %d, no BuildKit warning:\n%s%s", code, out, errOut)
		}
	})

	t.Run("first start pulls", func(t *testing.T) {
		e, g := e.with(t), g.with(t)
		// Added before the first start: recorded, created when it starts.
		if _, errOut := e.must(alicePassword+"\n", "user", "add", "alice"); !strings.Contains(errOut, "next start") {
			t.Errorf("user add before the first start does not say it waits for the start: %s", errOut)
		}
		t0 := time.Now()
		out, errOut := e.must("", "start")
		t.Logf("first occ start (pull + ready): %s", time.Since(t0).Round(100*time.Millisecond))
		for _, want := range []string{"image_source in the config says prebuilt", "Pulling " + img.Ref, "Signature verified: key ", "Service started"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("first start: missing %q in stderr:\n%s", want, errOut)
			}
		}
		if !strings.Contains(out, "URL:        http://127.0.0.1:"+strconv.Itoa(port)) {
			t.Errorf("first start: no URL on stdout:\n%s", out)
		}
		out, _ = e.must("", "status")
		for _, want := range []string{
			"State:          running\n",
			"Health:         Healthy\n",
			"Image src:      prebuilt from " + e.registry + " (" + img.Digest[:19],
			"Image ver:      v" + meta.Version + "\n",
			"Signature:      verified: key ",
			"Auth users:     alice\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("status after the first start: missing %q in:\n%s", want, out)
			}
		}
		st := statusJSON(t, e)
		if st.Source == nil || st.Source.Source != meta.SourcePrebuilt || st.Source.Registry != e.registry ||
			st.Source.ManifestDigest != img.Digest || !strings.HasPrefix(st.Source.Reference, img.Repo) {
			t.Errorf("status --json source = %+v, want prebuilt from %s, %s", st.Source, img.Repo, img.Digest)
		}
		if v := st.Source.Verification; v == nil || !v.Verified || v.Policy != meta.VerifyRequire || v.Method != meta.VerifyKey || v.BundleDigest == "" {
			t.Errorf("status --json source.verification = %+v, want verified under require with the key", v)
		}
		code, _, _ := g.get("/", "", "")
		if code != http.StatusUnauthorized {
			t.Errorf("GET / without a login: %d, want 401", code)
		}
		g.expect(http.StatusOK, "alice, added before the first start", "/", "alice", alicePassword)
		_, errOut = e.must("", "start")
		if !strings.Contains(errOut, "Service is already running") {
			t.Errorf("second start: %s", errOut)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("logs", func(t *testing.T) {
		e := e.with(t)
		all, _ := e.must("", "logs", "-n", "all", "--no-follow")
		if !strings.Contains(all, "[opencode-cloud] ready: http://") {
			t.Errorf("logs -n all --no-follow: no ready line from the sandbox:\n%s", all)
		}
		out, _ := e.must("", "logs", "-n", "20", "--no-follow")
		if want := lastLines(all, 20) + "\n"; out != want {
			t.Errorf("logs -n 20 --no-follow:\n%s\nwant the last 20 lines of -n all:\n%s", out, want)
		}
		out, _ = e.must("", "logs", "-n", "all", "--no-follow", "--grep", "opencode-cloud] starting")
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if len(lines) != 2 || !strings.Contains(lines[0], "starting opencode on 127.0.0.1:") || !strings.Contains(lines[1], "starting the gateway on") {
			t.Errorf("logs --grep: want the two 'starting' lines, got:\n%s", out)
		}
		if out, _ := e.must("", "logs", "--no-follow", "--grep", "no such line in any log"); out != "" {
			t.Errorf("logs --grep with no match printed:\n%s", out)
		}
	})

	t.Run("stop and restart", func(t *testing.T) {
		e, g := e.with(t), g.with(t)
		_, errOut := e.must("", "stop")
		if !strings.Contains(errOut, "Service stopped") {
			t.Errorf("stop: %s", errOut)
		}
		if code, out, errOut := e.run("", "-q", "status"); code != 3 || out != "" {
			t.Errorf("status -q after stop: exit %d %s%s, want 3 and nothing", code, out, errOut)
		}
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 2*time.Second); err == nil {
			c.Close()
			t.Errorf("the web port still accepts connections after occ stop")
		}
		if _, errOut := e.must("", "stop"); !strings.Contains(errOut, "Service is already stopped") {
			t.Errorf("second stop: %s", errOut)
		}
		out, _ := e.must("", "status")
		if !strings.Contains(out, "State:          stopped") {
			t.Errorf("status after stop:\n%s", out)
		}

		// restart starts a stopped service, and restarts a running one; the
		// users survive both.
		out, _ = e.must("", "restart")
		if !strings.Contains(out, "URL:        http://127.0.0.1:"+strconv.Itoa(port)) {
			t.Errorf("restart (stopped): %s", out)
		}
		g.expect(http.StatusOK, "alice after restart", "/", "alice", alicePassword)
		before := statusJSON(t, e).StartedAt
		e.must("", "restart")
		after := statusJSON(t, e)
		if after.State != "running" || after.StartedAt == nil || before == nil || !after.StartedAt.After(*before) {
			t.Errorf("restart (running): state %s, started %v then %v", after.State, before, after.StartedAt)
		}
		g.expect(http.StatusOK, "alice after a second restart", "/", "alice", alicePassword)
	})

	t.Run("rebuild from source", func(t *testing.T) {
		e, g := e.with(t), g.with(t)
		flag := rebuildFlag()
		t0 := time.Now()
		_, errOut := e.must("", "start", flag, "--yes")
		t.Logf("occ start %s --yes: %s", flag, time.Since(t0).Round(100*time.Millisecond))
		// With a current image, start's image flags build into update's
		// staging record and promote it, keeping the replaced image as
		// previous (docs/reliability.md); a build identical to current
		// changes nothing and says it is up to date.
		built := "Built " + meta.UpdateImageName
		if strings.Contains(errOut, "is up to date") {
			built = "Built "
		}
		for _, want := range []string{"Building the sandbox image from source", built} {
			if !strings.Contains(errOut, want) {
				t.Errorf("start %s: missing %q in:\n%s", flag, want, lastLines(errOut, 30))
			}
		}
		// A new image digest recreates the container; BuildKit stamps the
		// image with the build's time, but a rebuild that came out
		// identical keeps the running container, and says so.
		if !strings.Contains(errOut, "Recreating the sandbox container") && !strings.Contains(errOut, "Service is already running") {
			t.Errorf("start %s: neither recreated the container nor kept it:\n%s", flag, lastLines(errOut, 30))
		}
		kind := "cached"
		if flag == "--full-rebuild-sandbox-image" {
			kind = "full"
		}
		out, _ := e.must("", "status")
		if want := "Image src:      built from source (BuildKit v"; !strings.Contains(out, want) || !strings.Contains(out, ", "+kind+")\n") {
			t.Errorf("status after start %s: want %q…%q in:\n%s", flag, want, kind, out)
		}
		st := statusJSON(t, e)
		if st.Source == nil || st.Source.Source != meta.SourceBuild || st.Source.BuildkitVersion == "" || st.Source.NoCache != (kind == "full") {
			t.Errorf("status --json source after start %s = %+v", flag, st.Source)
		}
		g.expect(http.StatusOK, "alice on the rebuilt image", "/", "alice", alicePassword)
		g.expect(http.StatusOK, "opencode's API on the rebuilt image", "/config", "alice", alicePassword)
	})
}

// rebuildFlag is the flag the rebuild step uses. A no-cache rebuild of
// the real sandbox reinstalls its Debian packages and opencode, which
// takes minutes on a CI runner; the cached rebuild exercises the same
// path (occ start → BuildKit → containerd → recreate → ready, provenance
// "built from source") in seconds. OCC_E2E_FULL_REBUILD=1 uses
// --full-rebuild-sandbox-image instead.
func rebuildFlag() string {
	if os.Getenv("OCC_E2E_FULL_REBUILD") == "1" {
		return "--full-rebuild-sandbox-image"
	}
	return "--cached-rebuild-sandbox-image"
}

type statusFacts struct {
	State     string     `json:"state"`
	StartedAt *time.Time `json:"started_at"`
	Source    *struct {
		Source          string             `json:"source"`
		Registry        string             `json:"registry"`
		Reference       string             `json:"reference"`
		ManifestDigest  string             `json:"manifest_digest"`
		BuildkitVersion string             `json:"buildkit_version"`
		NoCache         bool               `json:"no_cache"`
		Verification    *meta.Verification `json:"verification"`
	} `json:"source"`
}

func statusJSON(t *testing.T, e *env) statusFacts {
	t.Helper()
	out, _ := e.must("", "status", "--json")
	var st statusFacts
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

// with is e reporting to t (a subtest's): a failed command then fails the
// subtest, not its parent from the wrong goroutine.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func (g *gateway) with(t *testing.T) *gateway {
	c := *g
	c.t = t
	return &c
}
