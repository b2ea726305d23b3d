package meta

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func writeFile(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfigMissingFileGivesDefaults(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope", "config.json")
	cfg, exists, err := LoadConfig(p)
	if err != nil || exists {
		t.Fatalf("LoadConfig(missing) = exists %v, err %v", exists, err)
	}
	if cfg.ImageSource != SourcePrebuilt || cfg.UpdateCheck != UpdateCheckAlways || cfg.OpencodeWebPort != 3000 ||
		cfg.ContainerdNamespace != "opencode-cloud" || cfg.NetworkMode != NetworkCNI || len(cfg.ImageRepositories) != 2 {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("loading a missing config must not create it (stat: %v)", err)
	}
}

// An upstream (Rust occ) config file with every field, deprecated ones and
// comments included, must load.
const upstreamConfig = `{
  // written by upstream occ
  "version": 1,
  "opencode_web_port": 3100,
  "bind": "localhost",
  "auto_restart": true,
  "boot_mode": "system",
  "restart_retries": 3,
  "restart_delay": 5,
  "auth_username": null,
  "auth_password": "old-secret",
  "container_env": ["FOO=bar"],
  "bind_address": "::1",
  "trust_proxy": false,
  "allow_unauthenticated_network": false,
  "rate_limit_attempts": 5,
  "rate_limit_window_seconds": 60,
  "users": ["alice"],
  "cockpit_port": 9090,
  "cockpit_enabled": false,
  "image_source": "build",
  "update_check": "never",
  "mounts": ["/srv/code:/home/opencoder/workspace:rw"], /* block comment */
  "opencode_commit": "abc123",
}`

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string // substring; "" means success
		check   func(t *testing.T, c *Config)
	}{
		{name: "upstream file with comments and trailing comma", body: upstreamConfig, check: func(t *testing.T, c *Config) {
			if c.OpencodeWebPort != 3100 || c.BootMode != "system" || c.BindAddress != "::1" || c.ImageSource != SourceBuild ||
				c.UpdateCheck != UpdateCheckNever || len(c.Users) != 1 || c.AuthPassword == nil || *c.AuthPassword != "old-secret" {
				t.Fatalf("fields not loaded: %+v", c)
			}
			if c.ImageTag != "" || c.ImageVerify != VerifyAuto || c.Snapshotter != "overlayfs" {
				t.Fatalf("occ's own fields did not default: %+v", c)
			}
		}},
		{name: "minimal", body: `{"version": 1}`},
		{name: "empty object", body: `{}`},
		{name: "null means default", body: `{"image_tag": null}`, check: func(t *testing.T, c *Config) {
			if c.ImageTag != "" || c.PullTag() != SandboxTag() {
				t.Fatalf("image_tag = %q", c.ImageTag)
			}
		}},
		{name: "occ fields", body: `{"image_digest":"sha256:` + strings.Repeat("a", 64) + `","image_repositories":["127.0.0.1:5001/x/y"],"insecure_registries":["reg.local:5000"]}`,
			check: func(t *testing.T, c *Config) {
				if c.ImageDigest == "" || c.ImageRepositories[0] != "127.0.0.1:5001/x/y" {
					t.Fatalf("%+v", c)
				}
			}},
		{name: "malformed JSON", body: `{"version": 1,,}`, wantErr: "not valid JSON"},
		{name: "not an object", body: `[1,2]`, wantErr: "one JSON object"},
		{name: "unknown key with suggestion", body: `{"image_sorce": "build"}`, wantErr: `unknown key "image_sorce"`},
		{name: "unknown key far from all", body: `{"zzzzzzzzzzzzzz": 1}`, wantErr: `unknown key "zzzzzzzzzzzzzz"`},
		{name: "wrong type", body: `{"opencode_web_port": "3000"}`, wantErr: `key "opencode_web_port" must be a whole number`},
		{name: "wrong list type", body: `{"users": "alice"}`, wantErr: "must be a list of strings"},
		{name: "newer schema", body: `{"version": 2}`, wantErr: "newer occ"},
		{name: "bad version", body: `{"version": "one"}`, wantErr: "version must be a positive whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err %v is not classified as invalid argument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestUnknownKeySuggestion(t *testing.T) {
	_, err := ParseConfig([]byte(`{"image_sorce": "build"}`))
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(ce.Hint, `"image_source"`) {
		t.Fatalf("want a did-you-mean image_source hint, got %v", err)
	}
}

func TestValidate(t *testing.T) {
	hex := strings.Repeat("0", 64)
	tests := []struct {
		name   string
		mutate func(c *Config)
		field  string // "" means valid
		fix    string
	}{
		{"defaults", func(c *Config) {}, "", ""},
		{"port too low", func(c *Config) { c.OpencodeWebPort = 80 }, "opencode_web_port", "occ config set opencode_web_port 3000"},
		{"port too high", func(c *Config) { c.OpencodeWebPort = 70000 }, "opencode_web_port", ""},
		{"bind address", func(c *Config) { c.BindAddress = "not-an-ip" }, "bind_address", "occ config set bind_address 127.0.0.1"},
		{"bind bracketed v6, host network", func(c *Config) { c.BindAddress, c.NetworkMode = "[::1]", NetworkHost }, "", ""},
		{"bind v6 loopback, cni", func(c *Config) { c.BindAddress = "[::1]" }, "bind_address", "occ config set bind_address 127.0.0.1"},
		{"bind v6 any, cni", func(c *Config) { c.BindAddress = "[::]" }, "", ""},
		{"bind multicast", func(c *Config) { c.BindAddress = "224.0.0.1" }, "bind_address", ""},
		{"bind v6 multicast", func(c *Config) { c.BindAddress, c.NetworkMode = "ff02::1", NetworkHost }, "bind_address", ""},
		{"bind broadcast", func(c *Config) { c.BindAddress = "255.255.255.255" }, "bind_address", ""},
		{"bind v6 link-local", func(c *Config) { c.BindAddress, c.NetworkMode = "fe80::1", NetworkHost }, "bind_address", ""},
		{"bind localhost", func(c *Config) { c.BindAddress = "localhost" }, "", ""},
		{"boot mode", func(c *Config) { c.BootMode = "boot" }, "boot_mode", ""},
		{"rate attempts", func(c *Config) { c.RateLimitAttempts = 0 }, "rate_limit_attempts", ""},
		{"rate window", func(c *Config) { c.RateLimitWindowSeconds = 0 }, "rate_limit_window_seconds", ""},
		{"image source", func(c *Config) { c.ImageSource = "nonsense" }, "image_source", "occ config set image_source prebuilt"},
		{"update check", func(c *Config) { c.UpdateCheck = "sometimes" }, "update_check", "occ config set update_check always"},
		{"digest short", func(c *Config) { c.ImageDigest = "sha256:abc" }, "image_digest", `occ config set image_digest ""`},
		{"digest algo", func(c *Config) { c.ImageDigest = "md5:" + hex[:32] }, "image_digest", ""},
		{"digest ok", func(c *Config) { c.ImageDigest = "sha256:" + hex }, "", ""},
		{"repo with tag", func(c *Config) { c.ImageRepositories = []string{"ghcr.io/a/b:latest"} }, "image_repositories", ""},
		{"repo with digest", func(c *Config) { c.ImageRepositories = []string{"ghcr.io/a/b@sha256:" + hex} }, "image_repositories", ""},
		{"repo bad", func(c *Config) { c.ImageRepositories = []string{"UPPER/Case"} }, "image_repositories", ""},
		{"repo with port", func(c *Config) { c.ImageRepositories = []string{"127.0.0.1:5001/prizz/x"} }, "", ""},
		{"no repos", func(c *Config) { c.ImageRepositories = nil }, "image_repositories", ""},
		{"tag", func(c *Config) { c.ImageTag = "-bad" }, "image_tag", ""},
		{"tag empty", func(c *Config) { c.ImageTag = "" }, "", ""},
		{"verify mode", func(c *Config) { c.ImageVerify = "sometimes" }, "image_verify", "occ config set image_verify auto"},
		{"verify issuer http", func(c *Config) { c.ImageVerifyIssuer = "http://issuer" }, "image_verify_issuer", ""},
		{"verify identity empty", func(c *Config) { c.ImageVerifyIdentity = "" }, "image_verify_identity", ""},
		{"verify identity regexp", func(c *Config) { c.ImageVerifyIdentity = "(" }, "image_verify_identity", ""},
		{"verify key relative", func(c *Config) { c.ImageVerifyKey = "key.pub" }, "image_verify_key", ""},
		{"verify root relative", func(c *Config) { c.ImageVerifyRoot = "root.json" }, "image_verify_trusted_root", ""},
		{"verify key without identity", func(c *Config) { c.ImageVerifyKey = "/etc/occ/key.pub"; c.ImageVerifyIdentity = "" }, "", ""},
		{"insecure registry", func(c *Config) { c.InsecureRegistries = []string{"http://x"} }, "insecure_registries", ""},
		{"insecure registry ok", func(c *Config) { c.InsecureRegistries = []string{"reg.local:5000", "[::1]:5000"} }, "", ""},
		{"containerd address relative", func(c *Config) { c.ContainerdAddr = "run/x.sock" }, "containerd_address", ""},
		{"containerd address tcp refused", func(c *Config) { c.ContainerdAddr = "tcp://1.2.3.4:1" }, "containerd_address", ""},
		{"containerd address unix", func(c *Config) { c.ContainerdAddr = "unix:///run/c.sock" }, "", ""},
		{"buildkit tcp", func(c *Config) { c.BuildkitAddr = "tcp://127.0.0.1:1234" }, "", ""},
		{"buildkit bad", func(c *Config) { c.BuildkitAddr = "ftp://x" }, "buildkit_address", ""},
		{"namespace", func(c *Config) { c.ContainerdNamespace = "bad ns" }, "containerd_namespace", ""},
		{"snapshotter", func(c *Config) { c.Snapshotter = "" }, "snapshotter", ""},
		{"network mode", func(c *Config) { c.NetworkMode = "bridge" }, "network_mode", "occ config set network_mode cni"},
		{"cni dirs relative", func(c *Config) { c.CNIPluginDirs = []string{"cni"} }, "cni_plugin_dirs", ""},
		{"mount relative", func(c *Config) { c.Mounts = []string{"src:/x"} }, "mounts", ""},
		{"mount mode", func(c *Config) { c.Mounts = []string{"/a:/b:rx"} }, "mounts", ""},
		{"env bad", func(c *Config) { c.ContainerEnv = []string{"1X=y"} }, "container_env", ""},
		{"user bad", func(c *Config) { c.Users = []string{"Root"} }, "users", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("unexpected: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != tt.field {
				t.Fatalf("want one error for %s, got %v", tt.field, err)
			}
			if ve.Fields[0].Fix == "" || !strings.HasPrefix(ve.Fields[0].Fix, "occ ") {
				t.Fatalf("error for %s has no fix command: %+v", tt.field, ve.Fields[0])
			}
			if tt.fix != "" && ve.Fields[0].Fix != tt.fix {
				t.Fatalf("fix = %q, want %q", ve.Fields[0].Fix, tt.fix)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Fatal("validation errors must be invalid-argument")
			}
		})
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	c := DefaultConfig()
	c.OpencodeWebPort, c.ImageSource, c.UpdateCheck = 1, "x", "y"
	var ve *ValidationError
	if err := c.Validate(); !errors.As(err, &ve) || len(ve.Fields) != 3 {
		t.Fatalf("want 3 field errors, got %v", err)
	}
}

func TestSaveRoundTripAndBackup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "occ")
	p := filepath.Join(dir, "config.json")
	c := DefaultConfig()
	c.ImageSource = SourceBuild
	if err := SaveConfig(p, c); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(p)
	if _, err := os.Stat(p + ".bak"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("no backup expected on the first save")
	}
	c.UpdateCheck = UpdateCheckOnce
	if err := SaveConfig(p, c); err != nil {
		t.Fatal(err)
	}
	bak, _ := os.ReadFile(p + ".bak")
	if !bytes.Equal(bak, first) {
		t.Fatal("backup does not hold the previous file")
	}
	got, exists, err := LoadConfig(p)
	if err != nil || !exists || got.ImageSource != SourceBuild || got.UpdateCheck != UpdateCheckOnce {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, f := range []string{p, p + ".bak"} {
		st, _ := os.Stat(f)
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	st, _ := os.Stat(dir)
	if st.Mode().Perm() != 0o700 {
		t.Fatalf("config dir mode %v, want 0700", st.Mode().Perm())
	}
	data, _ := os.ReadFile(p)
	if !bytes.Contains(data, []byte("\n  \"image_source\": \"build\",\n")) {
		t.Fatalf("not pretty-printed:\n%s", data)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestLoadErrorsLeaveFileUnchanged(t *testing.T) {
	bodies := map[string]string{
		"malformed":   `{"version": 1,`,
		"unknown key": `{"version": 1, "colour": "red"}`,
		"wrong type":  `{"opencode_web_port": true}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), body)
			if _, _, err := LoadConfig(p); err == nil {
				t.Fatal("expected an error")
			} else if !strings.Contains(err.Error(), p) {
				t.Fatalf("error does not name the file: %v", err)
			}
			after, _ := os.ReadFile(p)
			if string(after) != body {
				t.Fatal("file changed")
			}
		})
	}
}

func TestUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	if os.Geteuid() == 0 {
		// root reads anything: make the path unreadable as a file instead.
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
	} else {
		writeFile(t, dir, `{}`)
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := LoadConfig(p)
	if err == nil || !strings.Contains(err.Error(), "cannot read") {
		t.Fatalf("want a cannot-read error, got %v", err)
	}
}

func TestSandboxTag(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	for _, tc := range []struct{ version, tag string }{
		{"0.1.0", "0.1.0"}, {"v1.2.3", "1.2.3"}, {"1.0.0-rc.1", "1.0.0-rc.1"},
		{"dev", "latest"}, {"", "latest"}, {"(devel)", "latest"}, {"0.1.0+dirty", "latest"},
		{"v0.0.0-20261203093000-abcdefabcdef", "latest"}, {"v0.1.1-0.20261203093000-abcdefabcdef", "latest"}, {"0.2.0-dev", "latest"},
	} {
		Version = tc.version
		if got := SandboxTag(); got != tc.tag {
			t.Errorf("version %q: tag %q, want %q", tc.version, got, tc.tag)
		}
	}
}

func TestVerifyMode(t *testing.T) {
	for _, tc := range []struct{ setting, repo, want string }{
		{VerifyAuto, "ghcr.io/opencode-cloud/occ-sandbox", VerifyRequire},
		{VerifyAuto, "docker.io/opencodecloud/occ-sandbox", VerifyRequire},
		{VerifyAuto, "registry.local:5000/mirror/occ-sandbox", VerifyWarn},
		{VerifyOff, "ghcr.io/opencode-cloud/occ-sandbox", VerifyOff},
		{VerifyRequire, "registry.local:5000/x", VerifyRequire},
		{VerifyWarn, "ghcr.io/opencode-cloud/occ-sandbox", VerifyWarn},
	} {
		c := DefaultConfig()
		c.ImageVerify = tc.setting
		if got := c.VerifyMode(tc.repo); got != tc.want {
			t.Errorf("%s for %s: %s, want %s", tc.setting, tc.repo, got, tc.want)
		}
	}
}
