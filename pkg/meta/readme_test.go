package meta

import (
	"os"
	"strings"
	"testing"
)

// The README's config reference must list every key.
func TestReadmeDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys {
		if !strings.Contains(string(data), "| `"+k.Name+"`") {
			t.Errorf("README.md config reference lacks %s", k.Name)
		}
	}
}
