package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The fuzz targets below run as ordinary tests on their seeds (f.Add and
// testdata/fuzz/<Target>) with `go test`, and for a bounded time each with
// `make fuzz` (FUZZTIME). A crasher the fuzzer finds is written to
// testdata/fuzz/<Target>/ and becomes a regression test once committed.

// FuzzParseConfig: any input either fails with a ConfigError or yields a
// config that survives a save/load round trip unchanged, whose validation
// does not panic, and whose mounts (when valid) parse.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{upstreamConfig, `{}`, `{"version":1}`, `{"users":["a"],"mounts":["/a:/b:ro"]}`, `[`, `{"image_tag":null}`, `// x` + "\n{}",
		`{"image_repositories":["127.0.0.1:5000/x"],"image_tag":"v1","image_digest":"sha256:` + strings.Repeat("a", 64) + `"}`,
		`{"bind_address":"::","allow_unauthenticated_network":true}`, `{"version":2}`, `{"version":"1"}`, `{"opencode_commit":"abc"}`,
		`{"container_env":["A=b","=x"],"insecure_registries":["[::1]:5000"]}`, `{"auth_password":"hunter2"}`, "{\"bind\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if ce.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if cfg.Version != ConfigVersion {
			t.Fatalf("version %d after load", cfg.Version)
		}
		if verr := cfg.Validate(); verr == nil {
			for _, m := range cfg.Mounts {
				if _, err := ParseMount(m); err != nil {
					t.Fatalf("valid config with a bad mount %q: %v", m, err)
				}
			}
			if _, err := ParseBindAddress(cfg.BindAddress); err != nil {
				t.Fatalf("valid config with a bad bind address %q", cfg.BindAddress)
			}
		} else if !strings.Contains(verr.Error(), "to fix, run:") {
			t.Fatalf("validation error without a fix: %v", verr)
		}
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

// FuzzConfigSet: `occ config set KEY VALUE` either refuses the value, or
// the value is valid for its key and survives a save/load round trip (what
// `occ config get` shows afterwards is what was set).
func FuzzConfigSet(f *testing.F) {
	for _, kv := range [][2]string{
		{"port", "3000"}, {"port", "80"}, {"bind_address", "0.0.0.0"}, {"bind_address", "[::1]"}, {"host", "localhost"},
		{"mounts", "/a:/b:ro,/c:/d"}, {"mounts", "/a:/"}, {"image_repositories", "ghcr.io/a/b,docker.io/c/d"},
		{"image_repositories", "ghcr.io/a/b:tag"}, {"image_tag", "v1.2.3"}, {"image_tag", "-x"},
		{"image_digest", "sha256:" + strings.Repeat("0", 64)}, {"image_digest", "sha512:00"},
		{"insecure_registries", "registry.local:5000,[::1]"}, {"containerd_address", "unix:///run/c.sock"},
		{"buildkit_address", "tcp://127.0.0.1:1234"}, {"buildkit_address", "tcp://h:x"}, {"network_mode", "host"},
		{"cni_plugin_dirs", "/opt/cni/bin"}, {"auto_restart", "yes"}, {"password", "s3cret"}, {"bind", "\xff"},
		{"containerd_namespace", "a.b-c"}, {"snapshotter", "native"}, {"rate_limit_attempts", "-1"}, {"update_check", "once"},
		{"users", "alice"}, {"version", "2"}, {"nope", "1"},
	} {
		f.Add(kv[0], kv[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		k, err := LookupKey(key)
		if err != nil {
			return
		}
		cfg := DefaultConfig()
		before, _ := cfg.Marshal()
		if err := cfg.Set(k, value); err != nil {
			if after, _ := cfg.Marshal(); !bytes.Equal(before, after) {
				t.Fatalf("a refused set changed the config:\n%s", after)
			}
			return
		}
		if fe := cfg.validateField(k.Name); fe != nil {
			t.Fatalf("set %s %q accepted an invalid value: %v", k.Name, value, fe)
		}
		out, err := cfg.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("set %s %q: occ cannot read what it wrote: %v\n%s", k.Name, value, err, out)
		}
		if got, want := again.Get(k), cfg.Get(k); got != want {
			t.Fatalf("set %s %q: saved and loaded again it reads %q, not %q", k.Name, value, got, want)
		}
	})
}

// FuzzParseMount: accepted mounts are absolute, clean, not over / and
// re-parse to themselves.
func FuzzParseMount(f *testing.F) {
	for _, s := range []string{"/a:/b", "/a:/b:ro", "a:b", "/a/../b:/c", ":::", "/x:/y:rw", "/x:/", "/x/./y//:/z/", "/:/mnt", "/a:/b:RO",
		"/a:/b:ro:x", "/home/me/src:/home/opencoder/workspace/src", "/a b:/c d", "/a\x00:/b", "/..:/b", "/a:/...",
		"/a\n:/b", "/etc:/b", "/a:/run/opencode-cloud", "/run/containerd:/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMount(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if !strings.HasPrefix(m.Source, "/") || !strings.HasPrefix(m.Target, "/") || m.Target == "/" || m.Source == "/" ||
			strings.IndexFunc(s, unicode.IsControl) >= 0 || under(m.Target, RunContainerDir) || under(m.Source, "/proc") {
			t.Fatalf("accepted %q as %+v", s, m)
		}
		for _, p := range []string{m.Source, m.Target} {
			if filepath.Clean(p) != p {
				t.Fatalf("accepted %q with an unclean path %q", s, p)
			}
			for _, el := range strings.Split(p, "/") {
				if el == ".." {
					t.Fatalf("accepted %q with .. in %q", s, p)
				}
			}
		}
		m2, err := ParseMount(m.String())
		if err != nil || m2 != m {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, m, m.String(), m2, err)
		}
	})
}

// FuzzParseState: never panics; errors are StateErrors; accepted states
// have a known source and survive a save/load round trip unchanged.
func FuzzParseState(f *testing.F) {
	for _, s := range []string{`{"version":1,"source":"prebuilt","acquired_at":"2026-01-01T00:00:00Z"}`, `{}`, `{"version":1,"source":"build","build":{"no_cache":true}}`,
		`{"version":1,"source":"prebuilt","registry":"ghcr.io","repository":"ghcr.io/prizz/opencode-cloud-sandbox","reference":"ghcr.io/prizz/opencode-cloud-sandbox:latest","index_digest":"sha256:` + strings.Repeat("1", 64) + `","manifest_digest":"sha256:` + strings.Repeat("2", 64) + `","platform":"linux/amd64","acquired_at":"2026-11-27T10:00:00.123456789+01:00","image_version":"1.0.0","previous":{"source":"build","acquired_at":"2026-11-26T10:00:00Z"}}`,
		`{"version":2,"source":"prebuilt"}`, `{"version":1,"source":"nope"}`, `{"version":1,"source":"prebuilt","acquired_at":"yesterday"}`, `null`, `{"version":1e400}`} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseState("f", data)
		if err != nil {
			var se *StateError
			if !errors.As(err, &se) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if s.Source != SourcePrebuilt && s.Source != SourceBuild {
			t.Fatalf("accepted source %q", s.Source)
		}
		path := filepath.Join(dir, "image-state.json")
		if err := SaveState(path, s); err != nil {
			// Only a time json cannot encode (a year outside 0-9999 can be
			// read from an RFC 3339 offset) may fail here.
			if !strings.Contains(err.Error(), "year outside of range") {
				t.Fatalf("cannot save an accepted state: %v", err)
			}
			return
		}
		again, err := LoadState(path)
		if err != nil {
			t.Fatalf("occ cannot read the state it wrote: %v", err)
		}
		a, _ := json.Marshal(s)
		b, _ := json.Marshal(again)
		if !bytes.Equal(a, b) {
			t.Fatalf("round trip changed the state:\n%s\n%s", a, b)
		}
	})
}

// FuzzImageFields: the checks behind image_repositories, image_tag and
// image_digest never panic, and a repository they accept is valid UTF-8
// without a tag or digest.
func FuzzImageFields(f *testing.F) {
	for _, s := range []string{"ghcr.io/prizz/opencode-cloud-sandbox", "docker.io/library/debian", "debian", "localhost:5000/x", "[::1]:5000/x",
		"ghcr.io/x:1", "ghcr.io/x@sha256:" + strings.Repeat("a", 64), "UPPER/x", "a//b", "", "sha256:" + strings.Repeat("a", 64), "sha256:A", "-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := ValidateRepository(s); err == nil {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "@") {
				t.Fatalf("accepted repository %q", s)
			}
		}
		if err := ValidateDigest(s); err == nil && (!strings.HasPrefix(s, "sha256:") || len(s) != 71) {
			t.Fatalf("accepted digest %q", s)
		}
		_ = tagRe.MatchString(s)
		_ = IsExposed(s)
	})
}
