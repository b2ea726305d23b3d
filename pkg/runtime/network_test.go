package runtime

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
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
