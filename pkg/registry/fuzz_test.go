package registry

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// Fuzz targets for what a user types as an image: `occ image pull REF`,
// --platform, and the image_repositories / image_tag / image_digest a
// config file holds. Seeds: f.Add below and testdata/fuzz/<Target>.

// FuzzParseSource: an explicit REF is refused with an invalid-argument
// error, or it becomes a Source whose references go-containerregistry
// accepts and which reads back to itself.
func FuzzParseSource(f *testing.F) {
	d := "sha256:" + strings.Repeat("a", 64)
	for _, s := range []string{"ghcr.io/prizz/opencode-cloud-sandbox", "ghcr.io/prizz/opencode-cloud-sandbox:latest", "ghcr.io/x@" + d,
		"ghcr.io/x:1@" + d, "localhost:5000/x", "127.0.0.1:5000/x:v", "[::1]:5000/x:v", "debian", "debian:bookworm", "docker.io/library/debian",
		"", " ", "@", ":", "x@", "x:", "UPPER/x", "a//b", "x@sha256:zz", "x@sha512:" + strings.Repeat("b", 128), "host:99999/x", "x:" + strings.Repeat("t", 129),
		"ghcr.io/x:1@sha256:" + strings.Repeat("A", 64), "ghcr.io:443/x", "a/b/c/d/e/f:g", "é/x", "x\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		s, err := ParseSource(ref)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("ParseSource(%q): unclassified error %v", ref, err)
			}
			return
		}
		if len(s.Repositories) != 1 || (s.Tag == "" && s.Digest == "") {
			t.Fatalf("ParseSource(%q) = %+v", ref, s)
		}
		r := s.Repositories[0]
		if s.Digest != "" {
			if err := s.Digest.Validate(); err != nil {
				t.Fatalf("ParseSource(%q) kept an invalid digest: %v", ref, err)
			}
		}
		full := s.ref(r)
		if _, err := name.ParseReference(full); err != nil {
			t.Fatalf("ParseSource(%q) accepted %q, which is not a reference: %v", ref, full, err)
		}
		again, err := ParseSource(full)
		if err != nil {
			t.Fatalf("ParseSource(%q) -> %q, refused when read again: %v", ref, full, err)
		}
		if s.Digest != "" {
			again.Tag = s.Tag // the rendered reference carries the digest only
		}
		if again.Repositories[0] != r || again.Tag != s.Tag || again.Digest != s.Digest {
			t.Fatalf("ParseSource(%q) = %+v, read again from %q: %+v", ref, s, full, again)
		}
	})
}

// FuzzSourceFromConfig: a config file that validates yields a Source
// whose every reference is valid, so a pull never fails on a reference
// that `occ config set` or the config check let through.
func FuzzSourceFromConfig(f *testing.F) {
	d := "sha256:" + strings.Repeat("c", 64)
	for _, s := range []string{`{}`,
		`{"image_repositories":["127.0.0.1:5000/test/busybox"],"image_tag":"latest"}`,
		`{"image_repositories":["ghcr.io/a/b","docker.io/c/d"],"image_tag":"1.2.3","image_digest":"` + d + `"}`,
		`{"image_repositories":["localhost/x"]}`, `{"image_repositories":["x:1"]}`, `{"image_repositories":[]}`, `{"image_tag":""}`,
		`{"image_digest":"sha256:nothex"}`, `{"image_repositories":["[::1]:5000/x"],"insecure_registries":["[::1]:5000"]}`,
		`{"image_repositories":["a.b:1/c"],"image_tag":"_"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := meta.ParseConfig(data)
		if err != nil {
			return
		}
		s, err := SourceFromConfig(cfg)
		if cfg.Validate() != nil {
			if err != nil && !errdefs.IsInvalidArgument(err) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("a valid config yields no source: %v", err)
		}
		for _, r := range s.Repositories {
			if _, err := name.ParseReference(s.ref(r)); err != nil {
				t.Fatalf("valid config, invalid reference %q: %v", s.ref(r), err)
			}
		}
	})
}

// FuzzParsePlatform: --platform is refused with an invalid-argument error,
// or is a normalized linux platform that formats and parses back to itself.
func FuzzParsePlatform(f *testing.F) {
	for _, s := range []string{"linux/amd64", "linux/arm64", "linux/arm64/v8", "linux/arm/v7", "arm64", "amd64", "linux", "windows/amd64",
		"darwin/arm64", "linux/x86_64", "linux/aarch64", "LINUX/AMD64", "linux/amd64/v3", "", "/", "//", "linux/", "/amd64", "linux/amd64/v8/x",
		"linux(10.0)/amd64", "local", "*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePlatform(s)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "--platform") {
				t.Fatalf("ParsePlatform(%q): %v", s, err)
			}
			return
		}
		if p.OS != "linux" || p.Architecture == "" {
			t.Fatalf("ParsePlatform(%q) = %+v", s, p)
		}
		if n := platforms.Normalize(p); n.OS != p.OS || n.Architecture != p.Architecture || n.Variant != p.Variant {
			t.Fatalf("ParsePlatform(%q) = %+v, not normalized (%+v)", s, p, n)
		}
		str := platforms.Format(p)
		again, err := ParsePlatform(str)
		if err != nil || again.OS != p.OS || again.Architecture != p.Architecture || again.Variant != p.Variant {
			t.Fatalf("ParsePlatform(%q) = %+v -> %q -> %+v, %v", s, p, str, again, err)
		}
	})
}
