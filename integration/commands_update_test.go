//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// pushAppVariant publishes the test app at ref (in the testbed registry)
// with its image config changed by mut, and returns the manifest digest.
func pushAppVariant(t *testing.T, ref string, mut func(*v1.Config)) string {
	t.Helper()
	e := rtTestbed(t)
	src, err := name.ParseReference(rtAppImage(t, e), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(src)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg := cf.Config
	cfg.Labels = map[string]string{meta.ImageVersionLabel: meta.Version}
	cfg.Env = append([]string{}, cfg.Env...)
	mut(&cfg)
	if img, err = mutate.Config(img, cfg); err != nil {
		t.Fatal(err)
	}
	dst, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// updateView is what an update changes: the two image records, the state
// file, and the image the container was created from.
type updateView struct {
	current, previous string // record target digests ("" when missing)
	state             []byte
	container         string // the container's image digest label
}

func (f *cmdFixture) updateView() updateView {
	f.t.Helper()
	var v updateView
	nctx := f.client.WithNamespace(f.ctx)
	for _, x := range []struct {
		name string
		dst  *string
	}{{meta.CurrentImageName, &v.current}, {meta.PreviousImageName, &v.previous}} {
		img, err := f.client.ImageService().Get(nctx, x.name)
		if err == nil {
			*x.dst = img.Target.Digest.String()
		} else if !errdefs.IsNotFound(err) {
			f.t.Fatal(err)
		}
	}
	if _, err := f.client.ImageService().Get(nctx, meta.UpdateImageName); !errdefs.IsNotFound(err) {
		f.t.Errorf("the staging record %s is left behind (%v)", meta.UpdateImageName, err)
	}
	v.state, _ = os.ReadFile(f.paths.StateFile())
	st, err := f.sandbox().Status(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	v.container = st.Labels[meta.LabelContainerImageDigest]
	return v
}

func (f *cmdFixture) state() *meta.ImageState {
	f.t.Helper()
	st, err := meta.LoadState(f.paths.StateFile())
	if err != nil || st == nil {
		f.t.Fatalf("image state: %v %v", st, err)
	}
	return st
}

// seedSandboxData writes a user record and a workspace file into the
// volumes, as occ user add and the user's work would.
func (f *cmdFixture) seedSandboxData() {
	f.t.Helper()
	vols := f.paths.VolumesDir()
	rec, err := runtime.NewUserRecord("alice", "alice-secret")
	if err != nil {
		f.t.Fatal(err)
	}
	if err := runtime.WriteUserRecord(filepath.Join(vols, runtime.UsersVolume), rec); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vols, "opencode-workspace", "keep.txt"), []byte("work in progress\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// checkSandboxData checks that the running container still sees the data
// and the user record.
func (f *cmdFixture) checkSandboxData(what string) {
	f.t.Helper()
	for path, want := range map[string]string{
		"/home/opencoder/workspace/keep.txt": "work in progress",
		"/var/lib/opencode-users/alice.json": `"username": "alice"`,
	} {
		var got string
		var code int
		var err error
		// An exec's output very rarely comes back empty although the
		// command succeeded (seen once with cat): try again before failing.
		for try := 0; try < 3; try++ {
			var out, errb bytes.Buffer
			code, err = f.sandbox().Exec(f.ctx, runtime.ExecOptions{Args: []string{"cat", path}, Stdout: &out, Stderr: &errb})
			got = out.String() + errb.String()
			if err != nil || code != 0 || got != "" {
				break
			}
			f.t.Logf("%s: cat %s: empty output (exit 0), trying again", what, path)
		}
		norm := func(s string) string { return strings.Join(strings.Fields(s), "") }
		if err != nil || code != 0 || !strings.Contains(norm(got), norm(want)) {
			f.t.Errorf("%s: %s in the container: exit %d %v: %q", what, path, code, err, got)
		}
	}
	if _, err := runtime.ReadUserRecord(filepath.Join(f.paths.VolumesDir(), runtime.UsersVolume), "alice"); err != nil {
		f.t.Errorf("%s: alice's record: %v", what, err)
	}
}

func (f *cmdFixture) answers(what string) {
	f.t.Helper()
	if got := rtGet(f.t, "http://127.0.0.1:"+itoa(f.cfg.OpencodeWebPort)+"/global/health"); !strings.Contains(got, "healthy") {
		f.t.Errorf("%s: health %q", what, got)
	}
}

// TestCommandsUpdatePrebuilt: occ update in prebuilt mode pulls the new
// image, recreates the container with its volumes (data and user records
// kept) and keeps the old image as previous; a second update is a no-op;
// --rollback swaps back and forth; a new image that cannot start is rolled
// back by itself, and so is a failed pull, both leaving current, previous
// and the state exactly as they were.
func TestCommandsUpdatePrebuilt(t *testing.T) {
	e := rtTestbed(t)
	repo := e.registry + "/test/update-prebuilt"
	d1 := pushAppVariant(t, repo+":latest", func(c *v1.Config) { c.Env = append(c.Env, "RELEASE=1") })
	f := newCmdFixture(t, func(c *meta.Config) { c.ImageRepositories = []string{repo} })

	// Nothing to update before the first start; no previous to roll back to.
	if r := f.occ("update", "--yes"); r.code == 0 || !strings.Contains(r.stderr, "occ start") {
		t.Errorf("update without an image: %s", r)
	}
	f.mustOK("start")
	f.seedSandboxData()
	if r := f.occ("update", "--rollback", "--yes"); r.code == 0 || !strings.Contains(r.stderr, "No previous image") || !strings.Contains(r.stderr, "occ update") {
		t.Errorf("rollback without a previous image: %s", r)
	}
	before := f.updateView()
	if before.current != d1 || before.previous != "" || before.container != d1 {
		t.Fatalf("after start: %+v, want current %s", before, d1)
	}

	// Already up to date: nothing recreated, previous untouched.
	r := f.mustOK("update", "--yes")
	wantContains(t, "update, nothing new", r.stderr, "Already up to date ("+d1+", v"+meta.Version+")")
	if v := f.updateView(); v.previous != "" || v.container != d1 || !bytes.Equal(v.state, before.state) {
		t.Errorf("an up-to-date update changed something: %+v", v)
	}

	// A new release: no terminal and no --yes is refused first.
	d2 := pushAppVariant(t, repo+":latest", func(c *v1.Config) { c.Env = append(c.Env, "RELEASE=2") })
	if r := f.occ("update"); r.code == 0 || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("update off a terminal without --yes: %s", r)
	}
	// On a terminal occ asks; "n" changes nothing.
	out, code := f.occOnTTY([]ttyAnswer{{"Continue?", "n\n"}}, "update", "container")
	if code == 0 || !strings.Contains(out, "Update will stop the sandbox and recreate it. Continue?") || !strings.Contains(out, "Aborted; nothing was changed.") {
		t.Errorf("update on a terminal answered no: exit %d\n%s", code, out)
	}
	if v := f.updateView(); v.current != d1 || v.container != d1 || v.previous != "" {
		t.Errorf("the refused update changed the image: %+v", v)
	}
	r = f.mustOK("update", "--yes")
	t.Logf("occ update:\n%s%s", r.stderr, r.stdout)
	wantContains(t, "update", r.stderr, "Pulling the prebuilt sandbox image", "Updated to v"+meta.Version+" ("+d2, "occ update --rollback", "purge reclaimed: ",
		"Update status", "Container image")
	wantContains(t, "update", r.stdout, "URL:        http://127.0.0.1:"+itoa(f.cfg.OpencodeWebPort))
	v := f.updateView()
	if v.current != d2 || v.previous != d1 || v.container != d2 {
		t.Errorf("after update: %+v, want current %s previous %s", v, d2, d1)
	}
	if st := f.state(); st.ManifestDigest != d2 || st.Previous == nil || st.Previous.ManifestDigest != d1 || st.Source != meta.SourcePrebuilt {
		t.Errorf("state after update: %+v (previous %+v)", st, st.Previous)
	}
	f.answers("after update")
	f.checkSandboxData("after update")
	r = f.mustOK("status")
	wantContains(t, "status after update", r.stdout, "Image src:      prebuilt from "+e.registry+" ("+d2[:19], "State:          running")
	r = f.mustOK("image", "ls")
	wantContains(t, "image ls after update", r.stdout, meta.CurrentImageName, meta.PreviousImageName, d1[:19], d2[:19])

	// --rollback swaps, and again swaps back.
	r = f.mustOK("update", "--rollback", "--yes")
	wantContains(t, "rollback", r.stderr, "Rolled back to v"+meta.Version+" ("+d1)
	if v := f.updateView(); v.current != d1 || v.previous != d2 || v.container != d1 {
		t.Errorf("after rollback: %+v", v)
	}
	if st := f.state(); st.ManifestDigest != d1 || st.Previous == nil || st.Previous.ManifestDigest != d2 {
		t.Errorf("state after rollback: %+v", st)
	}
	f.answers("after rollback")
	f.checkSandboxData("after rollback")
	r = f.mustOK("status")
	wantContains(t, "status after rollback", r.stdout, "Image src:      prebuilt from "+e.registry+" ("+d1[:19])
	f.mustOK("update", "--rollback", "--yes")
	before = f.updateView()
	if before.current != d2 || before.previous != d1 || before.container != d2 {
		t.Fatalf("after the second rollback: %+v", before)
	}

	// A release whose entrypoint dies at once: rolled back by itself.
	pushAppVariant(t, repo+":latest", func(c *v1.Config) { c.Env = append(c.Env, "RELEASE=3", "EXIT_AT_ONCE=1") })
	r = f.occ("update", "--yes")
	if r.code == 0 {
		t.Fatalf("update to a broken image succeeded: %s", r)
	}
	t.Logf("occ update to a broken image:\n%s", r.stderr)
	wantContains(t, "broken update", r.stderr, "Update failed: ", "exited", "Rolled back to v"+meta.Version+" ("+d2, "running and answering as before")
	if v := f.updateView(); v.current != before.current || v.previous != before.previous || v.container != before.container || !bytes.Equal(v.state, before.state) {
		t.Errorf("after a rolled-back update: %+v, want %+v", v, before)
	}
	f.answers("after a rolled-back update")
	f.checkSandboxData("after a rolled-back update")

	// A registry that does not answer: nothing is touched, not even the
	// running container.
	st0, err := f.sandbox().Status(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.cfg.ImageRepositories = []string{"127.0.0.1:1/nothing/here"}
	f.saveConfig()
	r = f.occ("update", "--yes")
	if r.code == 0 || !strings.Contains(r.stderr, "could not get the new image") || !strings.Contains(r.stderr, "not changed") {
		t.Errorf("update with a dead registry: %s", r)
	}
	if v := f.updateView(); v.current != before.current || v.previous != before.previous || !bytes.Equal(v.state, before.state) {
		t.Errorf("a failed pull changed the records: %+v, want %+v", v, before)
	}
	if st, err := f.sandbox().Status(f.ctx); err != nil || st.State != runtime.StateRunning || !st.StartedAt.Equal(st0.StartedAt) {
		t.Errorf("a failed pull touched the container: %+v %v", st, err)
	}

	// One more release: the image that was previous (d1) is let go, and
	// the purge frees its manifest and config at once.
	f.cfg.ImageRepositories = []string{repo}
	f.saveConfig()
	d4 := pushAppVariant(t, repo+":latest", func(c *v1.Config) { c.Env = append(c.Env, "RELEASE=4") })
	r = f.mustOK("update", "container", "--yes", "--json")
	var res struct {
		Reclaimed int64 `json:"reclaimed_bytes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Reclaimed <= 0 || !strings.Contains(r.stderr, "purge reclaimed: ") {
		t.Errorf("update dropping the previous image reclaimed %d bytes (%v):\n%s", res.Reclaimed, err, r.stderr)
	}
	t.Logf("purge after an update that dropped the previous image: %d bytes", res.Reclaimed)
	if v := f.updateView(); v.current != d4 || v.previous != before.current {
		t.Errorf("after the last update: %+v, want current %s previous %s", v, d4, before.current)
	}
	if _, err := f.client.ContentStore().Info(f.client.WithNamespace(f.ctx), digest.Digest(d1)); err == nil {
		t.Errorf("the manifest of the dropped image %s is still in the content store", d1)
	}
}

// TestCommandsUpdateInterrupted: Ctrl-C while the new container is being
// waited for rolls back to the old image, which serves again.
func TestCommandsUpdateInterrupted(t *testing.T) {
	e := rtTestbed(t)
	repo := e.registry + "/test/update-interrupted"
	d1 := pushAppVariant(t, repo+":latest", func(c *v1.Config) {})
	f := newCmdFixture(t, func(c *meta.Config) { c.ImageRepositories = []string{repo} })
	f.mustOK("start")
	f.seedSandboxData()
	before := f.updateView()
	// A release that runs but never answers (and stops at once on SIGTERM).
	pushAppVariant(t, repo+":latest", func(c *v1.Config) {
		c.Entrypoint = []string{"/bin/sh", "-c", "trap 'exit 0' TERM; echo idling; while true; do sleep 1; done"}
	})
	// Interrupted while the new container is waited for, while the old one
	// is stopped and replaced, and while the new image is pulled (by then
	// the pull may be over): every time the old image serves again, and
	// current, previous and the state are as they were.
	for _, at := range []string{"waiting until it answers", "Stopping the sandbox", "Pulling "} {
		cmd := f.command("update", "--yes")
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		rtEventually(t, "the update reaches "+at, 2*time.Minute, func() bool {
			return strings.Contains(stderr.String(), at)
		})
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		err := waitExit(cmd, 2*time.Minute)
		if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != 130 {
			t.Errorf("update interrupted at %q: %v (want exit 130)\n%s", at, err, stderr.String())
		}
		t.Logf("occ update, interrupted at %q:\n%s", at, stderr.String())
		if strings.Contains(stderr.String(), "Interrupted; rolling back") {
			wantContains(t, "interrupted update", stderr.String(), "Update failed: interrupted", "Rolled back to v"+meta.Version+" ("+d1)
		} else {
			wantContains(t, "update interrupted before the switch", stderr.String(), "update interrupted; the sandbox and its images were not changed")
		}
		if at == "waiting until it answers" && !strings.Contains(stderr.String(), "Interrupted; rolling back") {
			t.Errorf("interrupted while waiting, but no rollback:\n%s", stderr.String())
		}
		if v := f.updateView(); v.current != before.current || v.previous != before.previous || v.container != before.container || !bytes.Equal(v.state, before.state) {
			t.Errorf("after an update interrupted at %q: %+v, want %+v", at, v, before)
		}
		f.answers("after an interrupted update")
	}
	f.answers("after an interrupted update")
	f.checkSandboxData("after an interrupted update")
}

// TestCommandsUpdateBuild: with image_source build, update is a cached
// rebuild; an unchanged source is already up to date, a changed one
// replaces the image (built from source) and keeps the old as previous.
func TestCommandsUpdateBuild(t *testing.T) {
	e := rtTestbed(t)
	rtAppImage(t, e)
	dir := t.TempDir()
	pinned, err := build.PinnedOpencodeVersion()
	if err != nil {
		t.Fatal(err)
	}
	writeDockerfile := func(release string) {
		// OPENCODE_VERSION as the sandbox's Dockerfile takes it (pinned
		// to what occ pins, so that opencode is up to date until asked).
		df := "FROM " + e.registry + "/test/runtime-app:latest\nARG OCC_VERSION\nARG OPENCODE_VERSION=" + pinned + "\n" +
			"LABEL org.opencode-cloud.version=\"${OCC_VERSION}\" " + build.LabelOpencodeVersion + "=\"${OPENCODE_VERSION}\"\n" +
			"ENV RELEASE=" + release + " OPENCODE=${OPENCODE_VERSION}\n"
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeDockerfile("1")
	f := newCmdFixture(t, func(c *meta.Config) { c.ImageSource = meta.SourceBuild })
	f.env = append(f.env, "OCC_BUILD_CONTEXT="+dir)
	r := f.mustOK("start")
	wantContains(t, "first start", r.stderr, "image_source in the config says build", "Building the sandbox image from source (context "+dir)
	f.seedSandboxData()
	before := f.updateView()

	r = f.mustOK("update", "--yes")
	wantContains(t, "update, same source", r.stderr, "Rebuilding the sandbox image from source", "Already up to date ("+before.current+", v"+meta.Version+")")
	if v := f.updateView(); v.current != before.current || v.previous != "" || !bytes.Equal(v.state, before.state) {
		t.Errorf("an up-to-date rebuild changed something: %+v", v)
	}

	writeDockerfile("2")
	r = f.mustOK("update", "--yes")
	wantContains(t, "update, changed source", r.stderr, "Updated to v"+meta.Version)
	v := f.updateView()
	if v.current == before.current || v.previous != before.current || v.container != v.current {
		t.Errorf("after a rebuild: %+v (before %+v)", v, before)
	}
	if st := f.state(); st.Source != meta.SourceBuild || st.Previous == nil || st.Previous.Source != meta.SourceBuild {
		t.Errorf("state after a rebuild: %+v", st)
	}
	var out bytes.Buffer
	if code, err := f.sandbox().Exec(f.ctx, runtime.ExecOptions{Args: []string{"sh", "-c", "echo $RELEASE"}, Stdout: &out}); err != nil || code != 0 || strings.TrimSpace(out.String()) != "2" {
		t.Errorf("the container does not run the rebuilt image: RELEASE=%q (exit %d, %v)", out.String(), code, err)
	}
	f.answers("after a rebuild")
	f.checkSandboxData("after a rebuild")
	r = f.mustOK("status")
	wantContains(t, "status after a rebuild", r.stdout, "Image src:      built from source (BuildKit v")

	// Another opencode: the image rebuilt with OPENCODE_VERSION, the
	// container switched to it; --rollback goes back.
	rebuilt := f.updateView()
	r = f.mustOK("update", "opencode", "--version", "1.2.3", "--yes")
	wantContains(t, "update opencode", r.stderr, "Rebuilding the sandbox image with opencode 1.2.3", "Updated to v"+meta.Version, "purge reclaimed: ")
	out.Reset()
	if code, err := f.sandbox().Exec(f.ctx, runtime.ExecOptions{Args: []string{"sh", "-c", "echo $OPENCODE"}, Stdout: &out}); err != nil || code != 0 || strings.TrimSpace(out.String()) != "1.2.3" {
		t.Errorf("after update opencode the container runs OPENCODE=%q (exit %d, %v)", out.String(), code, err)
	}
	if v := f.updateView(); v.previous != rebuilt.current || v.current == rebuilt.current {
		t.Errorf("after update opencode: %+v (before %+v)", v, rebuilt)
	}
	f.checkSandboxData("after update opencode")
	f.mustOK("update", "--rollback", "--yes")
	if v := f.updateView(); v.current != rebuilt.current {
		t.Errorf("rollback after update opencode: %+v, want current %s", v, rebuilt.current)
	}
}

// TestCommandsUpdateSupervised: an update under `occ start --no-daemon`
// (the systemd unit's ExecStart) does not end the supervisor, which sees
// the container replaced rather than stopped; occ stop still ends it.
func TestCommandsUpdateSupervised(t *testing.T) {
	e := rtTestbed(t)
	repo := e.registry + "/test/update-supervised"
	pushAppVariant(t, repo+":latest", func(c *v1.Config) {})
	f := newCmdFixture(t, func(c *meta.Config) { c.ImageRepositories = []string{repo} })
	sup := f.command("start", "--no-daemon")
	var supErr syncBuffer
	sup.Stderr = &supErr
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sup.Wait() }()
	rtEventually(t, "the supervisor runs", 2*time.Minute, func() bool {
		return strings.Contains(supErr.String(), "Supervising the container")
	})
	d2 := pushAppVariant(t, repo+":latest", func(c *v1.Config) { c.Env = append(c.Env, "RELEASE=2") })
	f.mustOK("update", "--yes")
	if v := f.updateView(); v.container != d2 {
		t.Fatalf("after update: %+v", v)
	}
	select {
	case err := <-done:
		t.Fatalf("the supervisor ended with the update: %v\n%s", err, supErr.String())
	default:
	}
	f.mustOK("stop")
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("supervisor after occ stop: %v\n%s", err, supErr.String())
		}
	case <-time.After(45 * time.Second):
		t.Fatalf("the supervisor did not end after occ stop:\n%s", supErr.String())
	}
	wantContains(t, "supervisor", supErr.String(), "The service was stopped.")
}
