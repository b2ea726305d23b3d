package meta

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestRemoveDeadOwners(t *testing.T) {
	// A process that is gone: a child that exited and was reaped.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	root := t.TempDir()
	for _, tc := range []struct {
		name string
		dir  bool
		kept bool
	}{
		{fmt.Sprintf(".occ-ingest-%d-123", dead), true, false},       // killed occ: swept
		{fmt.Sprintf(".occ-ingest-%d-456", os.Getpid()), true, true}, // a live occ's
		{".occ-ingest-789", true, true},                              // no pid: not ours to judge
		{fmt.Sprintf(".occ-ingest-%d-1", dead), false, false},        // a killed writer's file
		{"blobs", true, true},                                        // containerd's
		{fmt.Sprintf("occ-ingest-%d-1", dead), true, true},           // not the prefix
	} {
		p := filepath.Join(root, tc.name)
		var err error
		if tc.dir {
			err = os.MkdirAll(filepath.Join(p, "sub"), 0o700)
		} else {
			err = os.WriteFile(p, nil, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := os.Stat(p); (err == nil) != tc.kept {
				t.Errorf("%s: kept = %v, want %v", tc.name, err == nil, tc.kept)
			}
		}()
	}
	RemoveDeadOwners(root, ".occ-ingest-")
}

func TestRemoveDeadTemps(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		kept bool
	}{
		{fmt.Sprintf(".config.json.tmp-%d-123", dead), false},
		{fmt.Sprintf(".alice.json.tmp-%d-9", dead), false},
		{fmt.Sprintf(".state.json.tmp-%d-9", os.Getpid()), true},
		{".config.json.tmp-123456", true}, // the old naming: no pid
		{"config.json", true},
		{fmt.Sprintf("config.json.tmp-%d-1", dead), true}, // not a hidden temp
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := os.Stat(p); (err == nil) != tc.kept {
				t.Errorf("%s: kept = %v, want %v", tc.name, err == nil, tc.kept)
			}
		}()
	}
	if err := WriteFileAtomic(filepath.Join(dir, "other.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
}
