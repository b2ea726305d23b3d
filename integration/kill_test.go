//go:build integration && hardening

package integration

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// killSeed is the seed of the kill points: $OCC_KILL_SEED, else the time.
func killSeed(t *testing.T) uint64 {
	if s := os.Getenv("OCC_KILL_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("OCC_KILL_SEED=%q: %v", s, err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// killRun is one command killed with SIGKILL after a delay.
type killRun struct {
	name   string
	args   []string
	prep   func(i int) // before the run (nil: nothing)
	after  func()      // after the command's runs (nil: nothing)
	perCmd int
}

// TestKill kills occ image pull, occ image build, occ update and occ
// config set with SIGKILL at random points (seeded; the seed is printed,
// OCC_KILL_SEED replays it) and checks after each: the next mutating
// command gets the lock at once (an flock dies with its process), config
// and state parse, every image record resolves to content that is all
// there (current also unpacked), and every lease left behind carries
// containerd's expiry label, so the garbage collector reclaims it (a
// killed pull cannot delete its own lease: that is what the 24h expiry on
// occ's leases is for).
func TestKill(t *testing.T) {
	seed := killSeed(t)
	fmt.Printf("\n=== kill: seed %d (replay with OCC_KILL_SEED=%d)\n", seed, seed)
	t.Logf("seed %d", seed)
	// One generator per command, so that OCC_KILL_ONLY=CMD replays that
	// command's kill points of a full run.
	rngFor := func(name string) *rand.Rand {
		var h uint64 = 14695981039346656037
		for _, c := range []byte(name) {
			h = (h ^ uint64(c)) * 1099511628211
		}
		return rand.New(rand.NewPCG(seed, h))
	}
	rng := rngFor("releases")
	h := newHardEnv(t, true)
	e := rtTestbed(t)
	// The testbed's content root is shared with the other suites: only
	// what this run leaves counts.
	h.ingestsBefore, _ = filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(e.containerd)),
		"containerd", "root", "io.containerd.content.v1.content", ".occ-ingest-*"))

	// A small build context: the test app plus a step that runs.
	ctxDir := t.TempDir()
	writeDF := func(i int) {
		df := fmt.Sprintf("FROM %s/test/runtime-app:latest\nARG OCC_VERSION\nLABEL org.opencode-cloud.version=\"${OCC_VERSION}\"\nRUN echo %d-%d > /kill-nonce\n", e.registry, seed, i)
		if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base, err := remote.Image(mustRef(t, h.a.ref))
	if err != nil {
		t.Fatal(err)
	}
	// Each update finds a new release: B plus a fresh layer.
	newRelease := func(int) {
		pushVariant(t, e.registry, base, []int64{64 << 10, int64(32<<10 + rng.IntN(64<<10))}, true, chaosRepo)
	}
	port := h.cfg.OpencodeWebPort
	stopSandbox := func(int) {
		if r := h.run(time.Minute, "stop"); r.code != 0 {
			t.Fatalf("occ stop: %s", r)
		}
	}
	runs := []killRun{
		{name: "image pull", args: []string{"image", "pull"}, prep: func(int) { h.reset() }, perCmd: 8},
		{name: "image build", args: []string{"image", "build", "--context", ctxDir, "--progress", "plain"}, prep: writeDF, perCmd: 8},
		{name: "config set", args: []string{"config", "set", "opencode_web_port"}, perCmd: 8, after: func() {
			if r := h.run(time.Minute, "config", "set", "opencode_web_port", strconv.Itoa(port)); r.code != 0 {
				t.Fatalf("put the port back: %s", r)
			}
		}},
		{name: "update", args: []string{"update", "--yes"}, prep: newRelease, perCmd: 8},
		{name: "start", args: []string{"start", "--yes"}, prep: stopSandbox, perCmd: 4},
		{name: "rollback", args: []string{"update", "--rollback", "--yes"}, perCmd: 4},
		// With the sandbox stopped: the test image has no opencode-cloud-users
		// to apply a record with, so the record file is what is written.
		{name: "user add", args: []string{"user", "add"}, prep: stopSandbox, perCmd: 4},
	}
	type row struct {
		name                  string
		runs, killed, settled int
		lagging               int // state behind the current record
		calib                 time.Duration
		fails                 int
	}
	var rows []row
	bricked := ""                      // the run after which the sandbox could not start again
	only := os.Getenv("OCC_KILL_ONLY") // one command's runs, for replaying
	for _, kr := range runs {
		if only != "" && kr.name != only {
			continue
		}
		r := row{name: kr.name}
		krng := rngFor(kr.name)
		// Calibrate: one run to the end says how long the command takes.
		if kr.prep != nil {
			kr.prep(-1)
		}
		args := kr.args
		switch kr.name {
		case "config set":
			args = append(args, strconv.Itoa(port))
		case "user add":
			args = append(args, "killcal", "--generate")
		}
		start := time.Now()
		if res := h.run(5*time.Minute, args...); res.code != 0 {
			t.Fatalf("calibration run of occ %s: %s", kr.name, res)
		}
		r.calib = time.Since(start)
		for i := 0; i < kr.perCmd; i++ {
			name := fmt.Sprintf("%s #%d", kr.name, i+1)
			ok := t.Run(name, func(t *testing.T) {
				h.t = t
				lag := h.stateLag
				defer func() { r.lagging += h.stateLag - lag }()
				if kr.prep != nil {
					kr.prep(i)
				}
				args := kr.args
				switch kr.name {
				case "config set":
					args = append(args, strconv.Itoa(port+1+i))
				case "user add":
					args = append(args, fmt.Sprintf("kill%d", i+1), "--generate")
				}
				if bricked != "" && (kr.name == "update" || kr.name == "start" || kr.name == "rollback") {
					t.Skipf("the sandbox cannot start since %s (orphaned shim, see above); more kills would only repeat it", bricked)
				}
				// A fraction of a full run, so that a replay kills at the
				// same point of the command even when it runs faster.
				delay := time.Duration(krng.Float64() * float64(r.calib))
				killed, res := h.killAfter(delay, args...)
				r.runs++
				if killed {
					r.killed++
				} else {
					r.settled++
				}
				t.Logf("occ %s killed after %s (killed: %v): %s", strings.Join(args, " "), delay, killed, oneLine(res))
				if kr.name == "update" || kr.name == "rollback" || kr.name == "start" {
					t.Logf("output:\n%s", res)
				}
				if h.checkAfterKill(kr.name) {
					bricked = name
				}
			})
			if !ok {
				r.fails++
			}
		}
		h.t = t
		if kr.after != nil {
			kr.after()
		}
		rows = append(rows, r)
	}
	// Leftovers once every killed command has had a successor: the next
	// pull sweeps killed pulls' temporary directories in containerd's
	// content root, the next write into a directory the temporary files
	// of killed writers.
	if only == "" {
		finalOK := true
		t.Run("leftovers", func(t *testing.T) {
			h.t = t
			for _, args := range [][]string{{"stop"}, {"image", "pull"}, {"config", "set", "image_tag", "latest"}, {"user", "add", "killfinal", "--generate"}, {"start", "--yes"}} {
				if r := h.run(2*time.Minute, args...); r.code != 0 {
					t.Errorf("occ %s: %s", strings.Join(args, " "), r)
				}
			}
			h.checkLeftovers(true)
			finalOK = !t.Failed()
		})
		h.t = t
		if !finalOK {
			rows = append(rows, row{name: "(leftovers at the end)", fails: 1})
		}
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "command\truns\tkilled mid-run\tfinished before the kill\tfull run takes\tstate lagging the record (repaired)\tviolations\n")
	total, bad := 0, 0
	for _, r := range rows {
		fmt.Fprintf(tw, "occ %s\t%d\t%d\t%d\t%.1fs\t%d\t%d\n", r.name, r.runs, r.killed, r.settled, r.calib.Seconds(), r.lagging, r.fails)
		total += r.runs
		bad += r.fails
	}
	tw.Flush()
	fmt.Fprintf(&b, "kill: %d runs (seed %d), violations %d; left at the end: %d leases, %d snapshots after GC (the images' and the container's)\n", total, seed, bad, h.leaseCount(), h.snapshots)
	fmt.Print(b.String())
	if p := os.Getenv("OCC_CHAOS_REPORT"); p != "" {
		if fh, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(fh, "=== kill (seed %d)\n%s\n", seed, b.String())
			fh.Close()
		}
	}
}

// killAfter starts occ and SIGKILLs it after delay; killed is false when
// it had finished by then.
func (h *hardEnv) killAfter(delay time.Duration, args ...string) (bool, string) {
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return false, out.String()
	case <-time.After(delay):
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	err := <-done
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	killed := ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
	_ = err
	return killed, out.String()
}

func (h *hardEnv) leaseCount() int {
	ls, err := h.client.LeasesService().List(h.client.WithNamespace(h.ctx))
	if err != nil {
		h.t.Fatal(err)
	}
	return len(ls)
}

// checkAfterKill checks what must hold after any kill. It reports whether
// the sandbox could not be started again because containerd still has a
// shim for its task (a kill while the old task was being deleted).
func (h *hardEnv) checkAfterKill(what string) (bricked bool) {
	t := h.t
	t.Helper()
	ctx := h.client.WithNamespace(h.ctx)
	// The next mutating command takes the lock at once: it would wait up
	// to meta.DefaultLockWait and then fail naming the holder.
	res := h.run(time.Minute, "config", "set", "image_tag", "latest")
	if res.code != 0 {
		t.Errorf("the next occ after a killed %s failed: %s", what, res)
	}
	if _, _, err := meta.LoadConfig(h.paths.ConfigFile); err != nil {
		t.Errorf("config does not parse: %v", err)
	}
	st, err := meta.LoadState(h.paths.StateFile())
	if err != nil {
		t.Errorf("state does not parse: %v", err)
	}
	lagged := false
	// Every image record points at content that is all there.
	imgs, err := h.client.ImageService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cs := h.client.ContentStore()
	for _, img := range imgs {
		m, err := images.Manifest(ctx, cs, img.Target, platforms.Only(amd64))
		if err != nil {
			t.Errorf("image record %s -> %s: manifest unreadable: %v", img.Name, img.Target.Digest, err)
			continue
		}
		for _, d := range append(m.Layers, m.Config) {
			if info, err := cs.Info(ctx, d.Digest); err != nil || info.Size != d.Size {
				t.Errorf("image record %s: blob %s missing or short: %v", img.Name, d.Digest, err)
			}
		}
		if img.Name == meta.CurrentImageName {
			ok, err := containerd.NewImageWithPlatform(ctrd(t, h.client), img, platforms.Only(amd64)).IsUnpacked(ctx, "overlayfs")
			if err != nil || !ok {
				t.Errorf("current image %s is not unpacked (%v)", img.Target.Digest, err)
			}
			// The state describes the current image, or lags one step
			// behind it: the record is written first, the state right
			// after (a kill in between). The next command that holds the
			// lock and opens containerd rewrites it from the records
			// (checked below).
			if p, ok := meta.ProvenanceFromLabels(img.Labels); ok && st != nil && p.ManifestDigest != st.ManifestDigest {
				t.Logf("state lags the current record: state %s, record %s", st.ManifestDigest, p.ManifestDigest)
				h.stateLag++
				lagged = true
			}
		}
	}
	// Leases: every one left carries containerd's expiry label.
	ls, err := h.client.LeasesService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		exp, ok := l.Labels["containerd.io/gc.expire"]
		if !ok {
			t.Errorf("lease %s has no expiry: it would hold its content forever (labels %v)", l.ID, l.Labels)
			continue
		}
		if ts, err := time.Parse(time.RFC3339, exp); err != nil || ts.After(time.Now().Add(25*time.Hour)) {
			t.Errorf("lease %s expires %q", l.ID, exp)
		}
	}
	// The sandbox runs again after `occ start` (a killed update, rollback
	// or start may have left it stopped; start brings it back from the
	// current image).
	defer func() {
		if !bricked {
			h.checkLeftovers(false)
		}
	}()
	if lagged {
		// The next command holding the lock repairs the state: the start
		// below, else a stop (the pull and build runs need no sandbox).
		defer h.checkStateMatchesRecords()
		if what != "update" && what != "rollback" && what != "start" {
			if res := h.run(time.Minute, "stop"); res.code != 0 {
				t.Errorf("occ stop after a killed %s: %s", what, res)
			}
		}
	}
	if what == "update" || what == "rollback" || what == "start" {
		if res := h.run(2*time.Minute, "start", "--yes"); res.code != 0 {
			t.Errorf("occ start after a killed update: %s\nstatus: %s", res, h.run(time.Minute, "status"))
			orphan := strings.Contains(res.stderr, "already exists")
			if orphan && !strings.Contains(res.stderr, "still runs a shim") {
				t.Errorf("the error does not explain the orphaned shim")
			}
			return orphan
		}
	}
	return false
}

// checkStateMatchesRecords: the image state says what the current and
// previous records say (their provenance labels).
func (h *hardEnv) checkStateMatchesRecords() {
	t := h.t
	t.Helper()
	ctx := h.client.WithNamespace(h.ctx)
	st, err := meta.LoadState(h.paths.StateFile())
	if err != nil || st == nil {
		t.Errorf("image state after the repair: %v %v", st, err)
		return
	}
	for _, x := range []struct {
		name string
		got  *meta.Provenance
	}{{meta.CurrentImageName, &st.Provenance}, {meta.PreviousImageName, st.Previous}} {
		img, err := h.client.ImageService().Get(ctx, x.name)
		if err != nil {
			continue
		}
		p, ok := meta.ProvenanceFromLabels(img.Labels)
		if !ok {
			continue
		}
		if x.got == nil || x.got.ManifestDigest != p.ManifestDigest {
			t.Errorf("the next command did not repair the image state: %s is %s, the state says %+v", x.name, p.ManifestDigest, x.got)
		}
	}
}

// checkLeftovers reports what killed commands left behind for good: a task
// bundle directory, a mount under one or a containerd shim for a task
// containerd does not list (the sandbox's or any other in the namespace);
// with final, also any temporary directory of occ's in containerd's
// content root (.occ-ingest-*) and any temporary file (*.tmp-*) in occ's
// config and data directories.
func (h *hardEnv) checkLeftovers(final bool) {
	t := h.t
	t.Helper()
	ctx := h.client.WithNamespace(h.ctx)
	tb := filepath.Dir(filepath.Dir(rtTestbed(t).containerd))
	tasks := map[string]bool{}
	ts, err := ctrd(t, h.client).TaskService().List(ctx, &tasksapi.ListTasksRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ts.Tasks {
		tasks[tk.ID] = true
	}
	bundles := filepath.Join(tb, "containerd", "state", "io.containerd.runtime.v2.task", cmdNamespace)
	if ents, err := os.ReadDir(bundles); err == nil {
		for _, e := range ents {
			if !tasks[e.Name()] && !strings.HasPrefix(e.Name(), ".") {
				t.Errorf("task bundle directory left without a task: %s", filepath.Join(bundles, e.Name()))
			}
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) < 5 || !strings.HasPrefix(f[4], bundles+"/") {
				continue
			}
			if id := strings.SplitN(strings.TrimPrefix(f[4], bundles+"/"), "/", 2)[0]; !tasks[id] {
				t.Errorf("mount left for a task containerd does not list: %s", f[4])
			}
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte("containerd-shim")) {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		flags := map[string]string{}
		for i := 1; i+1 < len(argv); i++ {
			flags[strings.TrimLeft(argv[i], "-")] = argv[i+1]
		}
		if flags["namespace"] == cmdNamespace && flags["address"] == rtTestbed(t).containerd && !tasks[flags["id"]] {
			t.Errorf("containerd shim %s left for task %s, which containerd does not list", filepath.Base(filepath.Dir(p)), flags["id"])
		}
	}
	if !final {
		return
	}
	// Leases: the commands after the kills (each holding the lock and
	// opening containerd) delete those of killed occ processes; the run
	// started with none.
	ls, err := h.client.LeasesService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		t.Errorf("containerd lease left: %s (labels %v)", l.ID, l.Labels)
	}
	// Snapshots: after a garbage collection an active snapshot is held by
	// a container (its rootfs) or by a lease (none is left); one a killed
	// unpack or container creation left would be neither.
	h.gc()
	keys := map[string]bool{}
	ctrs, err := ctrd(t, h.client).ContainerService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ctrs {
		keys[c.SnapshotKey] = true
	}
	sn := ctrd(t, h.client).SnapshotService("overlayfs")
	nSnap := 0
	if err := sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		nSnap++
		if info.Kind == snapshots.KindActive && !keys[info.Name] {
			t.Errorf("active snapshot left that no container uses: %s (labels %v)", info.Name, info.Labels)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h.snapshots = nSnap
	content := filepath.Join(tb, "containerd", "root", "io.containerd.content.v1.content")
	left, _ := filepath.Glob(filepath.Join(content, ".occ-ingest-*"))
	for _, l := range left {
		if !slices.Contains(h.ingestsBefore, l) {
			t.Errorf("occ's temporary directory left in containerd's content root: %s", l)
		}
	}
	for _, root := range []string{filepath.Dir(h.paths.ConfigFile), h.paths.DataDir} {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && strings.Contains(d.Name(), ".tmp-") {
				t.Errorf("temporary file left: %s", p)
			}
			return nil
		})
	}
}
