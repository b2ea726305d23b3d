package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/pkg/doctor"
)

func TestRenderDoctor(t *testing.T) {
	results := []doctor.Check{
		{Name: "config", Status: doctor.OK, Detail: "valid"},
		{Name: "BuildKit", Status: doctor.Fail, Detail: "not reachable", Fix: "start buildkitd"},
		{Name: "registry x", Status: doctor.Warn, Detail: "not found", Fix: "check the tag"},
		{Name: "snapshotter", Status: doctor.Skip, Detail: "containerd is not reachable"},
	}
	ui := NewUI(io.Discard, io.Discard, false, 0, false, false)
	var b bytes.Buffer
	failed, warned := renderDoctor(&b, ui, results, false)
	if failed != 1 || warned != 1 {
		t.Errorf("counts %d %d", failed, warned)
	}
	for _, w := range []string{"[ok  ] config", "[FAIL] BuildKit     not reachable\n", "Fix: start buildkitd", "[warn] registry x", "[skip] snapshotter", "1 problem(s) must be fixed"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("missing %q in:\n%s", w, b.String())
		}
	}
	b.Reset()
	renderDoctor(&b, ui, results, true)
	if strings.Contains(b.String(), "config") || strings.Contains(b.String(), "registry") || !strings.Contains(b.String(), "BuildKit") {
		t.Errorf("only failures:\n%s", b.String())
	}
}

func TestDoctorWithoutContainerd(t *testing.T) {
	cfgFile := occEnv(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Dir(cfgFile), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"version":1,"containerd_address":%q,"buildkit_address":"unix://%s/bk.sock","image_repositories":[],"network_mode":"host"}`,
		filepath.Join(dir, "containerd.sock"), dir)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := occ(t, "", "doctor")
	if code != 1 {
		t.Errorf("exit %d", code)
	}
	for _, w := range []string{"[FAIL] containerd socket", "no socket at " + dir, "Fix: start containerd", "[skip] snapshotter",
		"[warn] BuildKit", "needed only to build from source", "network_mode host"} {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in:\n%s", w, out)
		}
	}
}
