//go:build integration && hardening

package integration

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	cp "github.com/opencode-cloud/occ/internal/chaosproxy"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// outcome is what a schedule must end in.
type outcome int

const (
	wantOK   outcome = iota // image B pulled, exactly
	wantC                   // image C pulled, exactly (a swapped manifest occ cannot tell from a moved tag)
	wantFail                // a clean failure
)

// chaosCase is one fault schedule.
type chaosCase struct {
	name string
	// mirror adds <proxy>/test/chaos-mirror as a second repository;
	// rules with Repo "test/chaos" leave it healthy.
	mirror bool
	// pin sets image_digest to image B's index digest.
	pin   bool
	rules []cp.Rule
	want  outcome
	// retried: success must come only after a retry or a fallback.
	retried bool
	// msg must all appear in occ's stderr.
	msg []string
	// check inspects what the proxy saw (nil: nothing more).
	check func(log []cp.Entry) string
}

func st(code int, retryAfter string) cp.Action {
	return cp.Action{Type: cp.Status, Status: code, RetryAfter: retryAfter}
}

// rule acts on the nth..nth+count-1 requests of kind for ref.
func rule(kind cp.Kind, ref string, nth, count int, a cp.Action) cp.Rule {
	return cp.Rule{Method: "GET", Kind: kind, Ref: ref, Nth: nth, Count: count, Action: a}
}

func only(repo string, r cp.Rule) cp.Rule { r.Repo = repo; return r }

// rangedFrom says the proxy saw a blob request with Range from off.
func rangedFrom(off int64) func([]cp.Entry) string {
	return func(log []cp.Entry) string {
		want := fmt.Sprintf("bytes=%d-", off)
		for _, e := range log {
			if e.Kind == cp.KindBlob && strings.HasPrefix(e.Range, want) {
				return ""
			}
		}
		return "no blob request resumed with Range " + want
	}
}

func chaosCases(h *hardEnv) []chaosCase {
	const (
		M, B, P, Any = cp.KindManifest, cp.KindBlob, cp.KindPing, cp.KindAny
		F            = cp.Forever
	)
	l0, l1, last := h.b.layers[len(h.a.layers)], h.b.layers[len(h.a.layers)+1], h.b.layers[len(h.b.layers)-1]
	child := h.b.manifest.String()
	top := h.b.top.String()
	other := chaosOther + ":latest"
	cut := func(n int64) cp.Action { return cp.Action{Type: cp.Cut, Bytes: n} }
	stall := func(after int64, d time.Duration, thenCut bool) cp.Action {
		return cp.Action{Type: cp.Stall, Bytes: after, Stall: d, ThenCut: thenCut}
	}
	trunc := func(n int64) cp.Action { return cp.Action{Type: cp.Truncate, Bytes: n} }
	flip := func(off int64) cp.Action { return cp.Action{Type: cp.Flip, Offset: off} }
	L0, L1, LAST := l0.Digest.String(), l1.Digest.String(), last.Digest.String()
	retryMsg := []string{"Retrying"}
	return []chaosCase{
		// Transient faults: the pull retries and gets exactly B.
		{name: "blob 503 once", rules: []cp.Rule{rule(B, L0, 1, 1, st(503, ""))}, retried: true, msg: []string{"Retrying blob", "503"}},
		{name: "blob 503 Retry-After 1 once", rules: []cp.Rule{rule(B, L0, 1, 1, st(503, "1"))}, retried: true, msg: []string{"in 1s", "503"}},
		{name: "blob 500 twice", rules: []cp.Rule{rule(B, LAST, 1, 2, st(500, ""))}, retried: true, msg: retryMsg},
		{name: "blob 429 Retry-After 1 once", rules: []cp.Rule{rule(B, L1, 1, 1, st(429, "1"))}, retried: true, msg: []string{"in 1s", "429"}},
		{name: "blob 429 no Retry-After twice", rules: []cp.Rule{rule(B, L1, 1, 2, st(429, ""))}, retried: true, msg: []string{"429"}},
		{name: "config 503 once", rules: []cp.Rule{rule(B, "config", 1, 1, st(503, ""))}, retried: true, msg: retryMsg},
		{name: "tag manifest 503 once", rules: []cp.Rule{rule(M, "latest", 1, 1, st(503, ""))}, retried: true, msg: []string{"Retrying request"}},
		{name: "tag manifest 429 Retry-After 1", rules: []cp.Rule{rule(M, "latest", 1, 1, st(429, "1"))}, retried: true, msg: []string{"in 1s"}},
		{name: "child manifest 500 once", rules: []cp.Rule{rule(M, child, 1, 1, st(500, ""))}, retried: true, msg: retryMsg},
		{name: "ping 503 once", rules: []cp.Rule{rule(P, "", 1, 1, st(503, ""))}, retried: true, msg: retryMsg},
		// The handshake is go-containerregistry's: its error keeps no headers, so
		// a ping's Retry-After is not seen (the normal backoff applies).
		{name: "ping 502 twice", rules: []cp.Rule{rule(P, "", 1, 2, st(502, "1"))}, retried: true, msg: []string{"Bad Gateway"}},
		{name: "every request 503 for the first three", rules: []cp.Rule{rule(Any, "", 1, 3, st(503, ""))}, retried: true, msg: retryMsg},
		{name: "every blob 503 once", rules: []cp.Rule{rule(B, L0, 1, 1, st(503, "")), rule(B, L1, 1, 1, st(503, "")), rule(B, LAST, 1, 1, st(503, "")), rule(B, "config", 1, 1, st(503, ""))}, retried: true, msg: retryMsg},
		{name: "blob cut at byte 0", rules: []cp.Rule{rule(B, L0, 1, 1, cut(0))}, retried: true, msg: retryMsg},
		{name: "blob cut halfway resumes with Range", rules: []cp.Rule{rule(B, LAST, 1, 1, cut(last.Size/2))}, retried: true, msg: retryMsg, check: rangedFrom(last.Size / 2)},
		{name: "blob cut one byte short", rules: []cp.Rule{rule(B, L1, 1, 1, cut(l1.Size-1))}, retried: true, msg: retryMsg, check: rangedFrom(l1.Size - 1)},
		{name: "blob cut three times at growing offsets", rules: []cp.Rule{rule(B, LAST, 1, 1, cut(1000)), rule(B, LAST, 2, 1, cut(1000)), rule(B, LAST, 3, 1, cut(1000))}, retried: true, msg: []string{"attempt 3"}},
		{name: "blob cut then Range ignored", rules: []cp.Rule{rule(B, L1, 1, 1, cut(l1.Size/3)), rule(B, L1, 2, 1, cp.Action{Type: cp.NoRange})}, retried: true, msg: retryMsg},
		{name: "config cut at byte 10", rules: []cp.Rule{rule(B, "config", 1, 1, cut(10))}, retried: true, msg: retryMsg},
		{name: "tag manifest cut at byte 20", rules: []cp.Rule{rule(M, "latest", 1, 1, cut(20))}, retried: true, msg: retryMsg},
		{name: "child manifest cut at byte 50", rules: []cp.Rule{rule(M, child, 1, 1, cut(50))}, retried: true, msg: retryMsg},
		{name: "blob stalls 300ms before headers then answers", rules: []cp.Rule{rule(B, L0, 1, 1, stall(0, 300*time.Millisecond, false))}},
		{name: "blob stalls 300ms mid-body then goes on", rules: []cp.Rule{rule(B, LAST, 1, 1, stall(last.Size/2, 300*time.Millisecond, false))}},
		{name: "blob stalls mid-body then cut", rules: []cp.Rule{rule(B, LAST, 1, 1, stall(last.Size/2, 200*time.Millisecond, true))}, retried: true, msg: retryMsg, check: rangedFrom(last.Size / 2)},
		{name: "blob stalls mid-body past the stall timeout", rules: []cp.Rule{rule(B, L1, 1, 1, stall(l1.Size/2, 10*time.Second, false))}, retried: true, msg: []string{"stalled"}},
		{name: "tag manifest stalls before headers past the stall timeout", rules: []cp.Rule{rule(M, "latest", 1, 1, stall(0, 10*time.Second, false))}, retried: true, msg: []string{"Retrying request"}},
		{name: "blob truncated (short Content-Length) once", rules: []cp.Rule{rule(B, L0, 1, 1, trunc(l0.Size/2))}, retried: true, msg: retryMsg},
		{name: "manifest 429, layer cut, config 500 together", rules: []cp.Rule{rule(M, "latest", 1, 1, st(429, "")), rule(B, LAST, 1, 1, cut(4096)), rule(B, "config", 1, 2, st(500, ""))}, retried: true, msg: retryMsg},
		{name: "pinned digest, manifest 503 once", pin: true, rules: []cp.Rule{rule(M, top, 1, 1, st(503, ""))}, retried: true, msg: retryMsg},

		// Persistent faults: a clean failure that says what happened.
		{name: "blob 503 forever", rules: []cp.Rule{rule(B, L0, 1, F, st(503, ""))}, want: wantFail, msg: []string{"503", "gave up after 4 attempts"}},
		{name: "blob 429 Retry-After 1 forever", rules: []cp.Rule{rule(B, L1, 1, F, st(429, "1"))}, want: wantFail, msg: []string{"429", "gave up", "rate limit"}},
		{name: "tag manifest 500 forever", rules: []cp.Rule{rule(M, "latest", 1, F, st(500, ""))}, want: wantFail, msg: []string{"500", "gave up"}},
		{name: "ping 503 forever", rules: []cp.Rule{rule(P, "", 1, F, st(503, ""))}, want: wantFail, msg: []string{"service unavailable", "gave up"}},
		{name: "tag manifest 401", rules: []cp.Rule{rule(M, "latest", 1, F, st(401, ""))}, want: wantFail, msg: []string{"401", "log in"}},
		{name: "blob 401", rules: []cp.Rule{rule(B, L0, 1, F, st(401, ""))}, want: wantFail, msg: []string{"401", "authentication"}},
		{name: "tag manifest 404", rules: []cp.Rule{rule(M, "latest", 1, F, st(404, ""))}, want: wantFail, msg: []string{"404", "image_repositories"}},
		{name: "child manifest 404", rules: []cp.Rule{rule(M, child, 1, F, st(404, ""))}, want: wantFail, msg: []string{"404"}},
		{name: "blob 404", rules: []cp.Rule{rule(B, L1, 1, F, st(404, ""))}, want: wantFail, msg: []string{"404", L1[:19]}},
		{name: "layer byte flipped once", rules: []cp.Rule{rule(B, L0, 1, 1, flip(100))}, want: wantFail, msg: []string{"digest"}},
		{name: "config byte flipped", rules: []cp.Rule{rule(B, "config", 1, F, flip(5))}, want: wantFail, msg: []string{"digest"}},
		{name: "last byte of the last layer flipped", rules: []cp.Rule{rule(B, LAST, 1, F, flip(last.Size-1))}, want: wantFail, msg: []string{"digest"}},
		{name: "child manifest byte flipped", rules: []cp.Rule{rule(M, child, 1, F, flip(30))}, want: wantFail, msg: []string{"digest"}},
		{name: "child manifest swapped for another", rules: []cp.Rule{rule(M, child, 1, F, cp.Action{Type: cp.Swap, Other: other})}, want: wantFail, msg: []string{"digest"}},
		{name: "tag manifest swapped, stale digest header", rules: []cp.Rule{rule(M, "latest", 1, F, cp.Action{Type: cp.Swap, Other: other, StaleDigest: true})}, want: wantFail, msg: []string{"digest"}},
		{name: "pinned digest, manifest swapped", pin: true, rules: []cp.Rule{rule(M, top, 1, F, cp.Action{Type: cp.Swap, Other: other})}, want: wantFail, msg: []string{"digest", top[:19]}},
		{name: "tag manifest truncated", rules: []cp.Rule{rule(M, "latest", 1, 1, trunc(40))}, want: wantFail, msg: []string{"digest"}},
		{name: "tag manifest is an HTML page", rules: []cp.Rule{rule(M, "latest", 1, F, cp.Action{Type: cp.Garbage})}, want: wantFail, msg: []string{"not a valid manifest"}},
		// Every response cut after 100 bytes: each Range resume makes 100 bytes
		// of headway, so the retries run out. (Cut halfway forever, the
		// resume of the second half completes the blob: that is a success.)
		{name: "blob cut after 100 bytes, every response", rules: []cp.Rule{rule(B, LAST, 1, F, cut(100))}, want: wantFail, msg: []string{"gave up"}},
		{name: "blob truncated forever", rules: []cp.Rule{rule(B, L0, 1, F, trunc(10))}, want: wantFail, msg: []string{"gave up"}},
		{name: "blob stalls forever", rules: []cp.Rule{rule(B, L1, 1, F, stall(100, 10*time.Second, false))}, want: wantFail, msg: []string{"stalled", "gave up"}},

		// A served manifest occ cannot tell from a moved tag: it must get
		// that image whole and exact.
		{name: "tag manifest swapped, consistent digest header", rules: []cp.Rule{rule(M, "latest", 1, 1, cp.Action{Type: cp.Swap, Other: other})}, want: wantC},
		{name: "tag manifest swapped, no digest header", rules: []cp.Rule{rule(M, "latest", 1, 1, cp.Action{Type: cp.Swap, Other: other, NoDigest: true})}, want: wantC},

		// The first repository fails for good, the second is healthy.
		{name: "fallback: manifest 503 forever", mirror: true, rules: []cp.Rule{only(chaosRepo, rule(M, "", 1, F, st(503, "")))}, retried: true, msg: []string{"trying"}},
		{name: "fallback: blob 404", mirror: true, rules: []cp.Rule{only(chaosRepo, rule(B, L1, 1, F, st(404, "")))}, retried: true, msg: []string{"trying", chaosMirror}},
		{name: "fallback: layer byte flipped", mirror: true, rules: []cp.Rule{only(chaosRepo, rule(B, L0, 1, F, flip(7)))}, retried: true, msg: []string{"digest", "trying"}},
		{name: "fallback: 401", mirror: true, rules: []cp.Rule{only(chaosRepo, rule(M, "latest", 1, F, st(401, "")))}, retried: true, msg: []string{"trying"}},
		{name: "fallback: child manifest swapped", mirror: true, rules: []cp.Rule{only(chaosRepo, rule(M, child, 1, F, cp.Action{Type: cp.Swap, Other: other}))}, retried: true, msg: []string{"trying"}},
		{name: "fallback: blob cut forever", mirror: true, rules: []cp.Rule{only(chaosRepo, rule(B, LAST, 1, F, cut(100)))}, retried: true, msg: []string{"trying"}},
		{name: "fallback: HTML page", mirror: true, rules: []cp.Rule{only(chaosRepo, rule(M, "latest", 1, F, cp.Action{Type: cp.Garbage}))}, retried: true, msg: []string{"trying"}},
		{name: "fallback: pinned digest, first repo swaps it", mirror: true, pin: true, rules: []cp.Rule{only(chaosRepo, rule(M, top, 1, F, cp.Action{Type: cp.Swap, Other: other}))}, retried: true, msg: []string{"trying"}},
		{name: "both repositories 503 forever", mirror: true, rules: []cp.Rule{rule(M, "latest", 1, F, st(503, ""))}, want: wantFail, msg: []string{chaosRepo + ":latest", chaosMirror + ":latest", "503"}},
		{name: "first 404, second flips a byte", mirror: true, rules: []cp.Rule{only(chaosRepo, rule(M, "latest", 1, F, st(404, ""))), only(chaosMirror, rule(B, L1, 1, F, flip(0)))}, want: wantFail, msg: []string{"404", "digest", chaosMirror}},
	}
}

// chaosTally counts the outcomes for the table.
type chaosRow struct {
	name, command, result, detail string
	d                             time.Duration
}

func TestChaosPull(t *testing.T) {
	h := newHardEnv(t, true)
	cases := chaosCases(h)
	rows := runChaos(t, h, cases, chaosCommand{args: []string{"image", "pull"}, verify: h.checkPulled})
	printChaosTable(t, "occ image pull", rows)
	// The same fixture, pulls in ranges (its set-up is most of this test's time).
	h.env = append(h.env, rangedEnv...)
	rows = runChaos(t, h, rangedCases(t, h), chaosCommand{args: []string{"image", "pull"}, verify: h.checkPulled})
	printChaosTable(t, "occ image pull (32 KiB ranges)", rows)
}

// rangedEnv makes occ fetch every layer of 64 KiB or more (B's 96 and 200
// KiB layers) in 32 KiB ranges, however fast the first range came.
var rangedEnv = []string{"OCC_PULL_RANGE_CHUNK=32768", "OCC_PULL_RANGE_MIN=65536", "OCC_PULL_RANGE_FAST=0", "OCC_PULL_RANGE_WIDTH=3"}

// rangedSchedules are the schedules of chaosCases that mean the same with
// ranges (their byte offsets fall inside the first range or in a layer too
// small for ranges); rangedChaosCases adds faults aimed at single ranges.
var rangedSchedules = []string{
	"blob 503 once", "blob 500 twice", "blob 429 Retry-After 1 once", "every blob 503 once",
	"blob cut at byte 0", "manifest 429, layer cut, config 500 together",
	"blob 503 forever", "blob 404", "fallback: blob 404", "fallback: blob cut forever",
}

// rangedChaosCases: faults on one range of the last layer (200 KiB: seven
// ranges, three at a time). The Nth request for it is the Nth range asked
// for; which range that is depends on timing, so checks look at offsets
// within a range.
func rangedChaosCases(h *hardEnv) []chaosCase {
	const B, F = cp.KindBlob, cp.Forever
	last := h.b.layers[len(h.b.layers)-1]
	LAST := last.Digest.String()
	// resumedInside: some range request starts 10000 bytes into a range.
	resumedInside := func(log []cp.Entry) string {
		for _, e := range log {
			var from, to int64
			if e.Kind == cp.KindBlob && strings.Contains(e.Path, LAST) {
				if _, err := fmt.Sscanf(e.Range, "bytes=%d-%d", &from, &to); err == nil && from%32768 == 10000 {
					return ""
				}
			}
		}
		return "no range of the last layer resumed 10000 bytes in"
	}
	return []chaosCase{
		{name: "ranged: a range cut 10000 bytes in resumes inside it", rules: []cp.Rule{rule(B, LAST, 3, 1, cp.Action{Type: cp.Cut, Bytes: 10000})},
			retried: true, msg: []string{"Retrying"}, check: resumedInside},
		{name: "ranged: a range answered 503 twice", rules: []cp.Rule{rule(B, LAST, 2, 2, st(503, ""))}, retried: true, msg: []string{"Retrying", "503"}},
		{name: "ranged: a range stalls past the stall timeout", rules: []cp.Rule{rule(B, LAST, 4, 1, cp.Action{Type: cp.Stall, Bytes: 100, Stall: 10 * time.Second})},
			retried: true, msg: []string{"stalled"}},
		{name: "ranged: registry ignores Range", rules: []cp.Rule{rule(B, "", 1, F, cp.Action{Type: cp.NoRange})}},
		{name: "ranged: Range ignored after the first range", rules: []cp.Rule{rule(B, LAST, 2, F, cp.Action{Type: cp.NoRange})}},
		// Flip's offset is the blob's: byte 100000 is in the fourth range.
		{name: "ranged: a byte flipped in the fourth range", rules: []cp.Rule{rule(B, LAST, 1, F, cp.Action{Type: cp.Flip, Offset: 100000})}, want: wantFail, msg: []string{"digest"}},
		{name: "ranged: a range answered 503 forever", rules: []cp.Rule{rule(B, LAST, 3, F, st(503, ""))}, want: wantFail, msg: []string{"503", "gave up"}},
	}
}

// rangedCases are rangedSchedules and rangedChaosCases, for occ image pull
// with every large-enough layer fetched in parallel ranges (rangedEnv).
func rangedCases(t *testing.T, h *hardEnv) []chaosCase {
	byName := map[string]chaosCase{}
	for _, c := range chaosCases(h) {
		byName[c.name] = c
	}
	var cases []chaosCase
	for _, n := range rangedSchedules {
		c, ok := byName[n]
		if !ok {
			t.Fatalf("no schedule %q", n)
		}
		cases = append(cases, c)
	}
	return append(cases, rangedChaosCases(h)...)
}

// updateSchedules are the pull schedules occ update runs under: its pull
// goes through the same code, so a selection of each kind of outcome.
var updateSchedules = []string{
	"blob 503 once", "blob 429 Retry-After 1 once", "blob cut halfway resumes with Range",
	"blob stalls mid-body past the stall timeout", "manifest 429, layer cut, config 500 together",
	"tag manifest swapped, consistent digest header",
	"fallback: layer byte flipped", "fallback: blob 404",
	"blob 503 forever", "layer byte flipped once", "tag manifest 404", "child manifest swapped for another",
	"tag manifest 401", "blob stalls forever", "both repositories 503 forever",
}

// TestChaosUpdate runs occ update under the schedules above with the
// sandbox running image A. A success must leave the registry's image
// current, A as previous (record and state) and the container recreated
// from the new image and running; a failure must leave everything, the
// running container's task included, exactly as it was. After a success
// occ update --rollback and the baseline previous entry restore A.
func TestChaosUpdate(t *testing.T) {
	h := newHardEnv(t, true)
	byName := map[string]chaosCase{}
	for _, c := range chaosCases(h) {
		byName[c.name] = c
	}
	var cases []chaosCase
	for _, n := range updateSchedules {
		c, ok := byName[n]
		if !ok {
			t.Fatalf("no schedule %q", n)
		}
		if c.want == wantFail {
			c.msg = append(c.msg, "could not get the new image", "not changed")
		} else {
			c.msg = append(c.msg, "Updated to")
		}
		cases = append(cases, c)
	}
	rows := runChaos(t, h, cases, chaosCommand{args: []string{"update", "--yes"}, verify: h.checkUpdated, restore: h.rollback})
	printChaosTable(t, "occ update", rows)
}

// checkUpdated: want is current and running; A is previous.
func (h *hardEnv) checkUpdated(want chaosImage, before, after storeSnap) []string {
	var out []string
	bad := func(f string, a ...any) { out = append(out, fmt.Sprintf(f, a...)) }
	// Everything a pull must get right, except the previous entry and the
	// container, which an update changes.
	for _, v := range h.checkPulled(want, before, after) {
		if !strings.HasPrefix(v, "state's previous entry changed") && !strings.HasPrefix(v, "previous record changed") && !strings.HasPrefix(v, "containers ") {
			out = append(out, v)
		}
	}
	oldCur := before.images[meta.CurrentImageName]
	if got := after.images[meta.PreviousImageName]; got != oldCur {
		bad("previous record is %s, want the replaced current %s", got, oldCur)
	}
	if _, ok := after.images[meta.UpdateImageName]; ok {
		bad("staging record %s left behind", meta.UpdateImageName)
	}
	old, _ := meta.ParseState("", before.state)
	if st, err := meta.LoadState(h.paths.StateFile()); err == nil && st != nil && old != nil {
		if st.Previous == nil || st.Previous.ManifestDigest != old.ManifestDigest {
			bad("state's previous entry %+v, want the replaced %s", st.Previous, old.ManifestDigest)
		}
	}
	st, err := h.sandbox().Status(h.ctx)
	if err != nil || st.State != runtime.StateRunning {
		bad("sandbox not running after the update: %+v %v", st, err)
	} else if st.Labels[meta.LabelContainerImageDigest] != want.top.String() {
		bad("the container runs %s, want %s", st.Labels[meta.LabelContainerImageDigest], want.top)
	}
	return out
}

// rollback undoes a successful update: --rollback, then the baseline
// previous record and state.
func (h *hardEnv) rollback() {
	h.t.Helper()
	if r := h.run(2*time.Minute, "update", "--rollback", "--yes"); r.code != 0 {
		h.t.Fatalf("occ update --rollback: %s", r)
	}
	ctx := h.client.WithNamespace(h.ctx)
	if _, err := h.client.ImageService().Update(ctx, h.recPrev, "target", "labels"); err != nil {
		h.t.Fatal(err)
	}
	h.reset()
}

// chaosCommand is the command a chaos run drives and how its success is
// judged.
type chaosCommand struct {
	args   []string
	verify func(want chaosImage, before, after storeSnap) []string
	// restore runs after a success, before the next schedule (nil: reset).
	restore func()
}

func runChaos(t *testing.T, h *hardEnv, cases []chaosCase, cmd chaosCommand) []chaosRow {
	args := func(chaosCase) []string { return cmd.args }
	command := strings.Join(cmd.args, " ")
	var rows []chaosRow
	for _, c := range cases {
		row := chaosRow{name: c.name, command: command}
		ok := t.Run(c.name, func(t *testing.T) {
			h.t = t
			h.reset()
			h.cfg.ImageRepositories = []string{h.proxyAddr + "/" + chaosRepo}
			if c.mirror {
				h.cfg.ImageRepositories = append(h.cfg.ImageRepositories, h.proxyAddr+"/"+chaosMirror)
			}
			h.cfg.ImageDigest = ""
			if c.pin {
				h.cfg.ImageDigest = h.b.top.String()
			}
			h.saveConfig()
			before := h.snap()
			h.proxy.Set(cp.Schedule{Name: c.name, Rules: c.rules})
			start := time.Now()
			r := h.run(2*time.Minute, args(c)...)
			row.d = time.Since(start)
			log := h.proxy.Log()
			h.proxy.Set(cp.Schedule{})
			after := h.snap()
			var violations []string
			if r.code == 0 {
				want := h.b
				if c.want == wantC {
					want = h.c
				}
				violations = cmd.verify(want, before, after)
				if cmd.restore != nil {
					defer cmd.restore()
				}
				row.result = "ok"
				if strings.Contains(r.stderr, "Retrying") || strings.Contains(r.stderr, "trying") {
					row.result = "ok after retry"
				}
			} else {
				violations = before.diff(after)
				row.result = "failed cleanly"
				if r.code < 0 {
					violations = append(violations, "occ hung")
				}
			}
			if len(violations) > 0 {
				row.result = "VIOLATION"
				for _, v := range violations {
					t.Errorf("violation: %s", v)
				}
			}
			// The outcome the schedule calls for, and what occ said.
			switch {
			case c.want == wantFail && r.code == 0:
				t.Errorf("occ succeeded; the schedule calls for a failure")
				row.result = "UNEXPECTED " + row.result
			case c.want != wantFail && r.code != 0:
				t.Errorf("occ failed; the schedule calls for success")
				row.result = "UNEXPECTED " + row.result
			case c.retried && r.code == 0 && row.result == "ok":
				t.Errorf("occ succeeded without a retry or fallback, though the schedule injected a fault")
			}
			for _, m := range c.msg {
				if !strings.Contains(r.stderr, m) {
					t.Errorf("stderr lacks %q", m)
				}
			}
			if c.check != nil {
				if s := c.check(log); s != "" {
					t.Error(s)
				}
			}
			acted := 0
			for _, e := range log {
				if e.Rule >= 0 {
					acted++
				}
			}
			if acted == 0 {
				t.Errorf("the schedule never fired (the fault was not exercised)")
			}
			if r.code != 0 {
				row.detail = oneLine(r.stderr)
			} else {
				row.detail = fmt.Sprintf("%d faults injected", acted)
			}
			if t.Failed() {
				t.Logf("occ %s: %s\nproxy log: %+v", strings.Join(args(c), " "), r, log)
			}
		})
		if !ok && !strings.HasPrefix(row.result, "UNEXPECTED") && row.result != "VIOLATION" {
			row.result = "TEST FAILED (" + row.result + ")"
		}
		rows = append(rows, row)
	}
	h.t = t
	return rows
}

func printChaosTable(t *testing.T, title string, rows []chaosRow) {
	var okFirst, okRetry, failed, bad int
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "schedule\tresult\ttime\tdetail\n")
	for _, r := range rows {
		switch r.result {
		case "ok":
			okFirst++
		case "ok after retry":
			okRetry++
		case "failed cleanly":
			failed++
		default:
			bad++
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1fs\t%s\n", r.name, r.result, r.d.Seconds(), r.detail)
	}
	tw.Flush()
	fmt.Fprintf(&b, "\n%s: schedules run %d, succeeded first time %d, succeeded after retry/fallback %d, failed cleanly %d, violations %d\n",
		title, len(rows), okFirst, okRetry, failed, bad)
	fmt.Print("\n=== chaos: " + title + "\n" + b.String())
	if p := os.Getenv("OCC_CHAOS_REPORT"); p != "" {
		fh, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprint(fh, "=== chaos: "+title+"\n"+b.String()+"\n")
			fh.Close()
		}
	}
	if bad > 0 {
		t.Errorf("%d schedule(s) broke an invariant or ended other than the schedule calls for", bad)
	}
}
