//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	cp "github.com/opencode-cloud/occ/internal/chaosproxy"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// TestDaemonKilledMidOperation, on a testbed of its own: BuildKit
// SIGKILLed in the middle of `occ image build`, and containerd SIGKILLed
// in the middle of `occ image pull` (held there by a proxy that stalls the
// layers). Each time occ ends with an error that names the daemon (no
// hang), the image records and the state file are as before, and once
// `hack/testbed up` has started the daemon again the same command
// succeeds and leaves no lease, ingest directory or temporary file.
func TestDaemonKilledMidOperation(t *testing.T) {
	e := rtTestbed(t)
	appRef := rtAppImage(t, e)
	f := newCmdFixture(t, nil)
	dir := fmt.Sprintf("/tmp/occ-tbk-%d", os.Getpid())
	port := rtFreePort(t)
	tbEnv := append(os.Environ(), "OCC_TESTBED_DIR="+dir, fmt.Sprintf("OCC_TESTBED_REGISTRY_PORT=%d", port), "OCC_BIN="+f.bin)
	tb := func(cmd string) {
		t.Helper()
		c := exec.Command("hack/testbed", cmd)
		c.Dir, c.Env = "..", tbEnv
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("hack/testbed %s: %v\n%s", cmd, err, out)
		}
	}
	t.Cleanup(func() {
		c := exec.Command("hack/testbed", "down")
		c.Dir, c.Env = "..", tbEnv
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("cleanup: hack/testbed down: %v\n%s", err, out)
		}
	})
	tb("up")
	reg := fmt.Sprintf("127.0.0.1:%d", port)
	// The test app in this testbed's registry (its BuildKit trusts only that one).
	src, err := remote.Image(mustRefI(t, appRef))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustRefI(t, reg+"/test/runtime-app:latest"), src); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	proxy, proxyAddr, err := cp.Start(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "run", "containerd.sock")
	f.cfg.ContainerdAddr = sock
	f.cfg.BuildkitAddr = "unix://" + filepath.Join(dir, "run", "buildkitd.sock")
	f.cfg.ImageRepositories = []string{proxyAddr + "/test/runtime-app"}
	f.cfg.InsecureRegistries = []string{proxyAddr, reg}
	f.saveConfig()
	f.mustOK("image", "pull")
	stateBefore, err := os.ReadFile(f.paths.StateFile())
	if err != nil {
		t.Fatal(err)
	}
	killDaemon := func(name string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "pids", name+".pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %s (%d): %v", name, pid, err)
		}
	}
	// runKilling starts occ, waits for want on its stderr, kills the
	// daemon, and returns occ's result (it must end within a minute).
	runKilling := func(daemon, want string, args ...string) (occResult, time.Duration) {
		t.Helper()
		cmd := f.command(args...)
		var stdout, stderr syncBuffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		rtEventually(t, "occ "+args[0]+" reaches "+want, time.Minute, func() bool { return strings.Contains(stderr.String(), want) })
		time.Sleep(500 * time.Millisecond)
		killDaemon(daemon)
		t0 := time.Now()
		if err := waitExit(cmd, time.Minute); errors.Is(err, os.ErrDeadlineExceeded) {
			_ = cmd.Process.Signal(syscall.SIGQUIT) // Go prints every goroutine's stack
			time.Sleep(2 * time.Second)
			_ = cmd.Process.Kill()
			if d := os.Getenv("OCC_TEST_DUMP"); d != "" {
				_ = os.WriteFile(d, []byte(stderr.String()), 0o644)
			}
			t.Fatalf("occ %v did not end within a minute of %s being killed: %v\n%s", args, daemon, err, stderr.String())
		}
		return occResult{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}, time.Since(t0)
	}
	checkUnchanged := func(what string) {
		t.Helper()
		if b, _ := os.ReadFile(f.paths.StateFile()); string(b) != string(stateBefore) {
			t.Errorf("%s changed the image state:\n%s", what, b)
		}
		noTemps(t, what, f.paths.DataDir)
	}

	// BuildKit killed while a RUN step runs.
	ctxDir := t.TempDir()
	df := fmt.Sprintf("FROM %s/test/runtime-app:latest\nARG OCC_VERSION\nLABEL org.opencode-cloud.version=\"${OCC_VERSION}\"\nRUN echo building; sleep 20; echo %d > /nonce\n", reg, time.Now().UnixNano())
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	r, took := runKilling("buildkitd", "sleep 20", "image", "build", "--context", ctxDir, "--progress", "plain")
	t.Logf("occ image build after buildkitd was killed: exit %d in %s\n%s", r.code, took.Round(time.Millisecond), lastN(r.stderr, 8))
	if r.code == 0 {
		t.Errorf("the build succeeded although BuildKit was killed: %s", r)
	}
	checkUnchanged("a build whose BuildKit was killed")
	tb("up")
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(strings.Replace(df, "sleep 20", "sleep 0", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	f.mustOK("image", "build", "--context", ctxDir, "--progress", "plain")

	// containerd killed while the layers download (each stalls 5 s after
	// its first KiB).
	f.mustOK("image", "pull") // back to the registry's image
	if stateBefore, err = os.ReadFile(f.paths.StateFile()); err != nil {
		t.Fatal(err)
	}
	big := pushBlobby(t, reg+"/test/runtime-app:big", src)
	f.cfg.ImageTag = "big"
	f.saveConfig()
	proxy.Set(cp.Schedule{Name: "stall layers", Rules: []cp.Rule{{Kind: cp.KindBlob, Ref: "layers", Count: cp.Forever,
		Action: cp.Action{Type: cp.Stall, Bytes: 1024, Stall: 5 * time.Second}}}})
	r, took = runKilling("containerd", "Pulling", "image", "pull")
	t.Logf("occ image pull after containerd was killed: exit %d in %s\n%s", r.code, took.Round(time.Millisecond), lastN(r.stderr, 8))
	if r.code == 0 {
		t.Errorf("the pull succeeded although containerd was killed: %s", r)
	}
	checkUnchanged("a pull whose containerd was killed")
	proxy.Set(cp.Schedule{Name: "none"})
	tb("up")
	f.mustOK("image", "pull")
	if st := f.state(); st.ManifestDigest != big {
		t.Errorf("state after the pull again: %s, want %s", st.ManifestDigest, big)
	}
	ingests, _ := filepath.Glob(filepath.Join(dir, "containerd", "root", "io.containerd.content.v1.content", ".occ-ingest-*"))
	if len(ingests) > 0 {
		t.Errorf("ingest directories left: %v", ingests)
	}
	noTemps(t, "the pull again", f.paths.DataDir)
	client, err := runtime.Connect(f.ctx, sock, cmdNamespace, "overlayfs")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if ls, err := client.LeasesService().List(client.WithNamespace(f.ctx)); err != nil || len(ls) > 0 {
		t.Errorf("leases left: %v %v", ls, err)
	}
	if _, err := client.ImageService().Get(client.WithNamespace(f.ctx), meta.CurrentImageName); err != nil {
		t.Errorf("no current record after the pull again: %v", err)
	}
}

// pushBlobby publishes base plus three 4 MiB random layers at ref and
// returns its manifest digest: layers a stall can hold mid-download.
func pushBlobby(t *testing.T, ref string, base v1.Image) string {
	t.Helper()
	img := base
	for i := 0; i < 3; i++ {
		l, err := random.Layer(4<<20, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := remote.Write(mustRefI(t, ref), img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// lastN is the last n lines of s.
func lastN(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func mustRefI(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
