package meta

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestApplyEndpointsNotSaved: overrides are in effect in memory, and a
// save writes the file's own values for them, unless the command changed
// the field to something else meanwhile.
func TestApplyEndpointsNotSaved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	file := DefaultConfig()
	file.ContainerdAddr = "/run/file.sock"
	if err := SaveConfig(path, file); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ApplyEndpoints(Endpoints{ContainerdAddress: "/run/flag.sock", Namespace: "flagns", Snapshotter: "native",
		BuildkitHost: "tcp://127.0.0.1:1234", CNIPath: []string{"/opt/flag"}})
	if cfg.ContainerdAddress() != "/run/flag.sock" || cfg.ContainerdNamespace != "flagns" || cfg.Snapshotter != "native" ||
		!slices.Equal(cfg.BuildkitAddresses(), []string{"tcp://127.0.0.1:1234"}) || !slices.Equal(cfg.CNIPluginDirs, []string{"/opt/flag"}) {
		t.Fatalf("overrides not in effect: %+v", cfg)
	}
	cfg.OpencodeWebPort = 3100       // a change the command made
	cfg.ContainerdNamespace = "mine" // an overridden field the command changed
	if err := SaveConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	saved, _, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if saved.ContainerdAddr != "/run/file.sock" || saved.Snapshotter != "overlayfs" || saved.BuildkitAddr != "" ||
		!slices.Equal(saved.CNIPluginDirs, DefaultCNIPluginDirs) {
		t.Errorf("an override was saved: %+v", saved)
	}
	if saved.OpencodeWebPort != 3100 || saved.ContainerdNamespace != "mine" {
		t.Errorf("the command's own changes were lost: port %d namespace %q", saved.OpencodeWebPort, saved.ContainerdNamespace)
	}
	// The in-memory config keeps its overrides after the save.
	if cfg.ContainerdAddress() != "/run/flag.sock" {
		t.Errorf("save dropped the override in memory: %s", cfg.ContainerdAddress())
	}
}

func TestEndpointsValidate(t *testing.T) {
	tests := []struct {
		e    Endpoints
		ok   bool
		name string
	}{
		{Endpoints{}, true, "empty"},
		{Endpoints{ContainerdAddress: "unix:///run/c.sock", Namespace: "a-b.c", Snapshotter: "overlayfs", BuildkitHost: "tcp://h:1", CNIPath: []string{"/opt/cni/bin"}}, true, "all good"},
		{Endpoints{ContainerdAddress: "c.sock"}, false, "relative address"},
		{Endpoints{ContainerdAddress: "tcp://h:1"}, false, "containerd over tcp"},
		{Endpoints{Namespace: "BAD!"}, false, "namespace"},
		{Endpoints{Snapshotter: "a b"}, false, "snapshotter"},
		{Endpoints{BuildkitHost: "http://h"}, false, "buildkit scheme"},
		{Endpoints{CNIPath: []string{"rel"}}, false, "cni relative"},
	}
	for _, tt := range tests {
		if err := tt.e.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v", tt.name, err)
		}
	}
	if got := SplitCNIPath(":/a::/b:"); !slices.Equal(got, []string{"/a", "/b"}) {
		t.Errorf("SplitCNIPath = %q", got)
	}
}
