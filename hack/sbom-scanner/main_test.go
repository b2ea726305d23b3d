package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestScan(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"var/lib/dpkg/status": "Package: nginx\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.22.1-9+deb12u11\n\n" +
			"Package: removed\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n\n" +
			"Package: tini\nStatus: install ok installed\nArchitecture: amd64\nVersion: 0.19.0-1\n",
		"etc/os-release": "ID=debian\nVERSION_ID=\"12\"\n",
		"usr/local/lib/node_modules/opencode-ai/package.json":                             `{"name":"opencode-ai","version":"1.18.33","license":"MIT"}`,
		"usr/local/lib/node_modules/opencode-ai/node_modules/@scope/dep/package.json":     `{"name":"@scope/dep","version":"2.0.0"}`,
		"usr/local/lib/node_modules/opencode-ai/node_modules/@scope/dep/lib/package.json": `{"name":"not-a-package","version":"0"}`,
		"usr/local/lib/node_modules/opencode-ai/node_modules/broken/package.json":         `{`,
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := scan(root, "core")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(st)
	var got struct {
		PredicateType string `json:"predicateType"`
		Predicate     struct {
			SPDXVersion string `json:"spdxVersion"`
			Packages    []struct {
				Name string `json:"name"`
				Refs []struct {
					Locator string `json:"referenceLocator"`
				} `json:"externalRefs"`
			} `json:"packages"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	var purls []string
	for _, p := range got.Predicate.Packages {
		purls = append(purls, p.Refs[0].Locator)
	}
	want := []string{
		"pkg:deb/debian/nginx@1.22.1-9+deb12u11?arch=amd64&distro=debian-12",
		"pkg:deb/debian/tini@0.19.0-1?arch=amd64&distro=debian-12",
		"pkg:npm/%40scope/dep@2.0.0",
		"pkg:npm/opencode-ai@1.18.33",
	}
	if got.PredicateType != "https://spdx.dev/Document" || got.Predicate.SPDXVersion != "SPDX-2.3" || !reflect.DeepEqual(purls, want) {
		t.Errorf("scan: %s %s %q, want %q", got.PredicateType, got.Predicate.SPDXVersion, purls, want)
	}
	again, _ := scan(root, "core")
	if d2, _ := json.Marshal(again); string(d2) != string(data) {
		t.Error("two scans of the same files differ")
	}
}
