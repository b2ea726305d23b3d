//go:build integration && hardening

package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	cp "github.com/opencode-cloud/occ/internal/chaosproxy"
	"github.com/opencode-cloud/occ/pkg/meta"
)

var lockedRE = regexp.MustCompile(`another occ is running \(pid (\d+)\)`)

// TestConcurrent starts 8 occ commands at once (update, start, stop,
// status, config set), three rounds, against one installation. After each
// round config and state parse and hold one of the values written (never
// a mix), and the current record and the state agree. A command that
// gives up waiting for the lock must say who holds it: in the first round
// the update is held up by the registry (503 with Retry-After: 2, three
// times) well past the 5s the others wait, and each of them that fails
// must name the update's pid.
func TestConcurrent(t *testing.T) {
	h := newHardEnv(t, true)
	e := rtTestbed(t)
	base, err := remote.Image(mustRef(t, h.a.ref))
	if err != nil {
		t.Fatal(err)
	}
	checks := []string{"always", "once", "never"}
	tags := []string{"latest", "latest"}
	known := map[string]bool{h.a.manifest.String(): true}
	var summary []string
	for round := 0; round < 3; round++ {
		rel := pushVariant(t, e.registry, base, []int64{48 << 10, int64(16<<10 + round)}, true, chaosRepo)
		known[rel.manifest.String()] = true
		if round == 0 {
			h.proxy.Set(cp.Schedule{Name: "hold the update", Rules: []cp.Rule{
				{Method: "GET", Kind: cp.KindBlob, Ref: "layer:-1", Count: 3, Action: cp.Action{Type: cp.Status, Status: 503, RetryAfter: "2"}},
			}})
		} else {
			h.proxy.Set(cp.Schedule{})
		}
		cmds := [][]string{
			{"update", "--yes"},
			{"start"},
			{"stop"},
			{"status", "--json"},
			{"config", "set", "update_check", checks[round]},
			{"config", "set", "image_tag", tags[round%2]},
			{"status"},
			{"start", "--yes"},
		}
		type result struct {
			args []string
			pid  int
			code int
			out  string
		}
		results := make([]result, len(cmds))
		var wg sync.WaitGroup
		var mu sync.Mutex
		startOne := func(i int) {
			cmd := exec.Command(h.bin, cmds[i]...)
			cmd.Env = h.env
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			results[i] = result{args: cmds[i], pid: cmd.Process.Pid}
			mu.Unlock()
			wg.Go(func() {
				err := cmd.Wait()
				code := 0
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				}
				mu.Lock()
				results[i].code, results[i].out = code, out.String()
				mu.Unlock()
			})
		}
		if round == 0 {
			// The update first, so it holds the lock when the rest start.
			startOne(0)
			time.Sleep(500 * time.Millisecond)
			for i := 1; i < len(cmds); i++ {
				startOne(i)
			}
		} else {
			for i := range cmds {
				startOne(i)
			}
		}
		wg.Wait()
		pids := map[int]bool{}
		for _, r := range results {
			pids[r.pid] = true
		}
		locked, failed := 0, 0
		for _, r := range results {
			what := fmt.Sprintf("round %d: occ %s (pid %d)", round+1, strings.Join(r.args, " "), r.pid)
			if r.code == 0 {
				continue
			}
			failed++
			m := lockedRE.FindStringSubmatch(r.out)
			if m == nil {
				t.Errorf("%s failed without naming the lock holder: exit %d\n%s", what, r.code, r.out)
				continue
			}
			locked++
			holder, _ := strconv.Atoi(m[1])
			switch {
			case holder == r.pid || !pids[holder]:
				t.Errorf("%s names pid %d, not one of the other commands of the round", what, holder)
			case round == 0 && holder != results[0].pid:
				t.Errorf("%s names pid %d; the update holding the lock is %d", what, holder, results[0].pid)
			}
		}
		if round == 0 && (locked == 0 || results[0].code != 0) {
			t.Errorf("round 1: %d commands gave up on the lock (want some: the update held it for 6s) and the update exited %d:\n%s",
				locked, results[0].code, results[0].out)
		}
		// Config and state: parseable, one of the values written.
		cfg, _, err := meta.LoadConfig(h.paths.ConfigFile)
		if err != nil {
			t.Fatalf("round %d: config does not parse: %v", round+1, err)
		}
		if !slices.Contains(checks, string(cfg.UpdateCheck)) || cfg.ImageTag != "latest" {
			t.Errorf("round %d: config holds update_check %q image_tag %q", round+1, cfg.UpdateCheck, cfg.ImageTag)
		}
		st, err := meta.LoadState(h.paths.StateFile())
		if err != nil || st == nil {
			t.Fatalf("round %d: state: %v", round+1, err)
		}
		if !known[st.ManifestDigest] {
			t.Errorf("round %d: state names %s, not an image of the test", round+1, st.ManifestDigest)
		}
		rec, err := h.client.ImageService().Get(h.client.WithNamespace(h.ctx), meta.CurrentImageName)
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := meta.ProvenanceFromLabels(rec.Labels); !ok || p.ManifestDigest != st.ManifestDigest {
			t.Errorf("round %d: the current record (%s) and the state (%s) disagree", round+1, p.ManifestDigest, st.ManifestDigest)
		}
		line := fmt.Sprintf("round %d: 8 commands, %d ok, %d gave up on the lock naming its holder, %d other failures",
			round+1, len(cmds)-failed, locked, failed-locked)
		summary = append(summary, line)
		t.Log(line)
		for _, r := range results {
			t.Logf("  occ %s: exit %d: %s", strings.Join(r.args, " "), r.code, oneLine(r.out))
		}
	}
	out := "\n=== concurrency\n" + strings.Join(summary, "\n") + "\n"
	fmt.Print(out)
	if p := os.Getenv("OCC_CHAOS_REPORT"); p != "" {
		if fh, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprint(fh, out)
			fh.Close()
		}
	}
}
