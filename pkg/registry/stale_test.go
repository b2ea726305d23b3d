package registry

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRemoveStaleIngests: a pull killed while writing straight into
// containerd's content root left its .occ-ingest-* directory for good.
// Pulls now remove those whose files have not been written for
// StaleIngestAge; a live ingest (fresh data) stays.
func TestRemoveStaleIngests(t *testing.T) {
	root := t.TempDir()
	old := time.Now().Add(-2 * StaleIngestAge)
	mk := func(name string, dirStale, dataStale bool) string {
		d := filepath.Join(root, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(d, "data")
		if err := os.WriteFile(f, make([]byte, 1024), 0o444); err != nil {
			t.Fatal(err)
		}
		if dataStale {
			_ = os.Chtimes(f, old, old)
		}
		if dirStale {
			_ = os.Chtimes(d, old, old)
		}
		return d
	}
	stale := mk(".occ-ingest-111", true, true)
	live := mk(".occ-ingest-222", true, false)
	fresh := mk(".occ-ingest-333", false, false)
	other := mk("ingest", true, true) // containerd's own
	if n := RemoveStaleIngests(root, StaleIngestAge); n != 1 {
		t.Errorf("removed %d, want 1", n)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("the stale ingest is still there")
	}
	for _, d := range []string{live, fresh, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s removed", filepath.Base(d))
		}
	}
}
