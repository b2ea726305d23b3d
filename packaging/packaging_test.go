package packaging

import (
	"os"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// content is one file of a package, as nfpm and goreleaser's nfpms spell it.
type content struct {
	Src      string `yaml:"src"`
	Dst      string `yaml:"dst"`
	Type     string `yaml:"type"`
	Packager string `yaml:"packager"`
	Expand   bool   `yaml:"expand"`
	FileInfo struct {
		Mode int `yaml:"mode"`
	} `yaml:"file_info"`
}

// pkgMeta is what both files say about the package.
type pkgMeta struct {
	Maintainer  string    `yaml:"maintainer"`
	Vendor      string    `yaml:"vendor"`
	Homepage    string    `yaml:"homepage"`
	License     string    `yaml:"license"`
	Section     string    `yaml:"section"`
	Priority    string    `yaml:"priority"`
	Description string    `yaml:"description"`
	Recommends  []string  `yaml:"recommends"`
	Contents    []content `yaml:"contents"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// make deb (nfpm.yaml) and the release (.goreleaser.yaml) build the same
// package: same metadata, same files; nfpm.yaml adds only the binary,
// which goreleaser puts in bindir itself.
func TestNfpmMatchesGoreleaser(t *testing.T) {
	var nfpm pkgMeta
	readYAML(t, "nfpm.yaml", &nfpm)
	var gr struct {
		Nfpms []struct {
			pkgMeta `yaml:",inline"`
			Bindir  string   `yaml:"bindir"`
			Formats []string `yaml:"formats"`
		} `yaml:"nfpms"`
	}
	readYAML(t, "../.goreleaser.yaml", &gr)
	if len(gr.Nfpms) != 1 {
		t.Fatalf(".goreleaser.yaml has %d nfpms entries, want 1", len(gr.Nfpms))
	}
	g := gr.Nfpms[0]
	if g.Bindir != "/usr/bin" || !reflect.DeepEqual(g.Formats, []string{"deb", "rpm"}) {
		t.Errorf("goreleaser's nfpms: bindir %q, formats %v", g.Bindir, g.Formats)
	}
	var files []content
	var binary *content
	for i, c := range nfpm.Contents {
		if c.Dst == "/usr/bin/occ" {
			binary = &nfpm.Contents[i]
			continue
		}
		files = append(files, c)
	}
	if binary == nil || !binary.Expand || binary.Src != "${OCC_BINARY}" || binary.FileInfo.Mode != 0o755 {
		t.Errorf("nfpm.yaml's binary entry: %+v", binary)
	}
	nfpm.Contents = files
	if !reflect.DeepEqual(nfpm, g.pkgMeta) {
		t.Errorf("nfpm.yaml and .goreleaser.yaml's nfpms differ:\nnfpm.yaml:   %+v\ngoreleaser:  %+v", nfpm, g.pkgMeta)
	}
	// Every source outside bin/release-assets (made by hack/release-assets) is in the tree.
	for _, c := range files {
		if len(c.Src) > 19 && c.Src[:19] == "bin/release-assets/" {
			continue
		}
		if _, err := os.Stat("../" + c.Src); err != nil {
			t.Errorf("package source %s: %v", c.Src, err)
		}
	}
	for _, want := range []string{
		"/usr/share/bash-completion/completions/occ", "/usr/share/zsh/vendor-completions/_occ",
		"/usr/share/fish/vendor_completions.d/occ.fish", "/usr/share/man/man1/occ.1.gz",
		"/usr/lib/systemd/system/opencode-cloud@.service", "/usr/share/doc/occ/copyright",
	} {
		found := false
		for _, c := range files {
			found = found || c.Dst == want
		}
		if !found {
			t.Errorf("the package lacks %s", want)
		}
	}
}
