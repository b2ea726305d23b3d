package meta

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

func TestStateRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "data", "image-state.json")
	if s, err := LoadState(p); s != nil || err != nil {
		t.Fatalf("missing state: %v %v", s, err)
	}
	want := &ImageState{Provenance: Provenance{
		Source: SourceBuild, AcquiredAt: time.Date(2026, 11, 27, 1, 2, 3, 4, time.UTC),
		ManifestDigest: "sha256:" + strings.Repeat("c", 64), Platform: "linux/amd64",
		Build: &BuildInfo{BuildkitVersion: "v0.34.2", Worker: "oci", ContextDigest: "sha256:x", NoCache: true},
	}}
	if err := SaveState(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != StateVersion || got.Source != SourceBuild || !got.AcquiredAt.Equal(want.AcquiredAt) ||
		got.Build == nil || *got.Build != *want.Build || got.ManifestDigest != want.ManifestDigest {
		t.Fatalf("round trip: %+v", got)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	// The file is flat, as upstream's is.
	data, _ := os.ReadFile(p)
	if !strings.Contains(string(data), `"source": "build"`) || !strings.Contains(string(data), `"acquired_at"`) {
		t.Fatalf("unexpected layout:\n%s", data)
	}
}

func TestParseStateErrors(t *testing.T) {
	for name, body := range map[string]string{
		"garbage":   "{not json",
		"truncated": `{"version": 1, "source": "prebu`,
		"no ver":    `{"source": "prebuilt"}`,
		"newer":     `{"version": 9, "source": "prebuilt"}`,
		"source":    `{"version": 1, "source": "magic"}`,
	} {
		if _, err := ParseState("s.json", []byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), "s.json") {
			t.Errorf("%s: error does not name the file: %v", name, err)
		}
	}
}

func TestProvenanceLabelsRoundTrip(t *testing.T) {
	p := Provenance{Source: SourcePrebuilt, Registry: "ghcr.io", Repository: "ghcr.io/prizz/x", Reference: "ghcr.io/prizz/x:latest",
		IndexDigest: "sha256:1", ManifestDigest: "sha256:2", Platform: "linux/amd64", ImageVersion: "1.2.3",
		AcquiredAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
	l := p.Labels()
	if l[ManagedByLabel] != ManagedByValue {
		t.Fatal("managed-by label missing")
	}
	got, ok := ProvenanceFromLabels(l)
	if !ok || got.Registry != p.Registry || got.ManifestDigest != p.ManifestDigest || !got.AcquiredAt.Equal(p.AcquiredAt) || got.Build != nil {
		t.Fatalf("round trip: %+v", got)
	}
	if _, ok := ProvenanceFromLabels(map[string]string{"x": "y"}); ok {
		t.Fatal("labels without provenance reported ok")
	}
}

func TestVersionsMatch(t *testing.T) {
	for _, tt := range []struct {
		cli, img string
		want     bool
	}{{"1.2.3", "1.2.3", true}, {"v1.2.3", "1.2.3", true}, {"1.2.3", "1.2.4", false}, {"1.2.3", "", false}, {"1.2.3", "dev", false}} {
		if got := VersionsMatch(tt.cli, tt.img); got != tt.want {
			t.Errorf("VersionsMatch(%q,%q) = %v", tt.cli, tt.img, got)
		}
	}
}

// TestMain doubles as a lock holder when re-executed by TestLockIsExclusive.
func TestMain(m *testing.M) {
	if p := os.Getenv("OCC_TEST_LOCK_HOLD"); p != "" {
		l, err := AcquireLock(context.Background(), p, time.Second)
		if err != nil {
			os.Exit(3)
		}
		defer l.Unlock()
		os.WriteFile(p+".ready", nil, 0o600)
		time.Sleep(time.Minute)
		return
	}
	os.Exit(m.Run())
}

func TestLockIsExclusive(t *testing.T) {
	p := filepath.Join(t.TempDir(), "occ.lock")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "OCC_TEST_LOCK_HOLD="+p)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(p + ".ready"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("helper never took the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err := AcquireLock(context.Background(), p, 300*time.Millisecond)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != cmd.Process.Pid || !errdefs.IsUnavailable(err) {
		t.Fatalf("want LockedError naming pid %d, got %v", cmd.Process.Pid, err)
	}
	if !strings.Contains(err.Error(), "another occ is running (pid ") {
		t.Fatalf("message: %v", err)
	}
	// A killed holder never leaves the lock stuck.
	cmd.Process.Kill()
	cmd.Wait()
	l, err := AcquireLock(context.Background(), p, 5*time.Second)
	if err != nil {
		t.Fatalf("lock not free after the holder died: %v", err)
	}
	l.Unlock()
}
