package runtime

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/pkg/meta"
)

func TestIPAMAddresses(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "occ0")
	if err := os.MkdirAll(store, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"10.213.77.3":        "ns-sandbox\r\neth0",
		"10.213.77.4":        "ns-other\r\neth0",
		"10.213.77.5":        "ns-sandbox\r\neth1",
		"last_reserved_ip.0": "10.213.77.5",
		"lock":               "",
	} {
		if err := os.WriteFile(filepath.Join(store, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		network, id string
		want        []string
	}{
		{"occ0", "ns-sandbox", []string{"10.213.77.3"}},
		{"occ0", "ns-other", []string{"10.213.77.4"}},
		{"occ0", "ns-none", nil},
		{"never-used", "ns-sandbox", nil},
	} {
		if got := ipamAddresses(dir, tc.network, tc.id); !slices.Equal(got, tc.want) {
			t.Errorf("ipamAddresses(%s, %s) = %v, want %v", tc.network, tc.id, got, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "never-used")); err == nil {
		t.Error("looking created the store of a network never used")
	}
}

func TestCNIIDUnique(t *testing.T) {
	seen := map[string]string{}
	for _, k := range []struct{ addr, ns, name string }{
		{"/run/containerd/containerd.sock", "opencode-cloud", "opencode-cloud-sandbox"},
		{"unix:///run/containerd/containerd.sock", "opencode-cloud", "opencode-cloud-sandbox"}, // the same socket
		{"/tmp/tb/run/containerd.sock", "opencode-cloud", "opencode-cloud-sandbox"},
		{"/run/containerd/containerd.sock", "other", "opencode-cloud-sandbox"},
		{"/run/containerd/containerd.sock", "opencode-cloud", "opencode-cloud-sandbox-dev"},
	} {
		id := CNIID(k.addr, k.ns, k.name)
		if !strings.HasPrefix(id, k.ns+"-"+k.name+"-") {
			t.Errorf("CNIID(%v) = %q: want it to start with namespace-container", k, id)
		}
		if prev, dup := seen[id]; dup && !strings.HasSuffix(prev, strings.TrimPrefix(k.addr, "unix://")) {
			t.Errorf("CNIID(%v) = %q, also %s's", k, id, prev)
		}
		seen[id] = k.ns + "/" + k.name + "@" + strings.TrimPrefix(k.addr, "unix://")
	}
	if len(seen) != 4 {
		t.Errorf("%d distinct ids for 4 distinct (address, namespace, container): %v", len(seen), seen)
	}
}

func TestDefaultIPAMDirIsHostWide(t *testing.T) {
	a := meta.Paths{DataDir: "/data/a"}
	b := meta.Paths{DataDir: "/data/b"}
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	if DefaultIPAMDir(a) != DefaultIPAMDir(b) {
		t.Errorf("two data directories get two IPAM stores: %s, %s", DefaultIPAMDir(a), DefaultIPAMDir(b))
	}
	if d := DefaultIPAMDir(a.WithInstance("dev")); d != DefaultIPAMDir(a) {
		t.Errorf("an instance gets an IPAM store of its own: %s", d)
	}
}
