package meta

import (
	"strings"
	"testing"
)

// FuzzParseConfig: any input either fails with a ConfigError or yields a
// config that survives a save/load round trip unchanged.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{upstreamConfig, `{}`, `{"version":1}`, `{"users":["a"],"mounts":["/a:/b:ro"]}`, `[`, `{"image_tag":null}`, `// x` + "\n{}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			if _, ok := err.(*ConfigError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		_ = cfg.Validate()
		out, err := cfg.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("occ cannot read what it wrote: %v\n%s", err, out)
		}
		out2, _ := again.Marshal()
		if string(out) != string(out2) {
			t.Fatalf("round trip changed the file:\n%s\n%s", out, out2)
		}
	})
}

// FuzzParseMount: accepted mounts are absolute, clean and re-parse to themselves.
func FuzzParseMount(f *testing.F) {
	for _, s := range []string{"/a:/b", "/a:/b:ro", "a:b", "/a/../b:/c", ":::", "/x:/y:rw"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMount(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(m.Source, "/") || !strings.HasPrefix(m.Target, "/") || m.Target == "/" {
			t.Fatalf("accepted %q as %+v", s, m)
		}
		m2, err := ParseMount(m.String())
		if err != nil || m2 != m {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, m, m.String(), m2, err)
		}
	})
}

// FuzzParseState: never panics; accepted states have a known source.
func FuzzParseState(f *testing.F) {
	for _, s := range []string{`{"version":1,"source":"prebuilt","acquired_at":"2026-01-01T00:00:00Z"}`, `{}`, `{"version":1,"source":"build","build":{"no_cache":true}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseState("f", data)
		if err == nil && s.Source != SourcePrebuilt && s.Source != SourceBuild {
			t.Fatalf("accepted source %q", s.Source)
		}
	})
}
