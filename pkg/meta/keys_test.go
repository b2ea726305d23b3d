package meta

import (
	"errors"
	"strings"
	"testing"
)

func TestLookupKeyAliases(t *testing.T) {
	tests := map[string]string{
		"port": "opencode_web_port", "PORT": "opencode_web_port", "host": "bind_address", "hostname": "bind",
		"username": "auth_username", "password": "auth_password", "env": "container_env", "proxy": "trust_proxy",
		"allow_unauth": "allow_unauthenticated_network", "unauth_network": "allow_unauthenticated_network",
		"rate_attempts": "rate_limit_attempts", "rate_window": "rate_limit_window_seconds",
		"rate_limit_window": "rate_limit_window_seconds", "cockpit": "cockpit_enabled",
		"image-source": "image_source", "update_check": "update_check",
	}
	for in, want := range tests {
		k, err := LookupKey(in)
		if err != nil || k.Name != want {
			t.Errorf("LookupKey(%q) = %q, %v; want %q", in, k.Name, err, want)
		}
	}
	if _, err := LookupKey("imge_source"); err == nil || !strings.Contains(err.Error(), `did you mean "image_source"`) {
		t.Errorf("no suggestion: %v", err)
	}
}

func TestEveryFieldHasAKey(t *testing.T) {
	if len(Keys) != len(jsonKeys) {
		t.Fatalf("%d keys for %d fields", len(Keys), len(jsonKeys))
	}
	for i, k := range Keys {
		if k.Name != jsonKeys[i] {
			t.Fatalf("Keys[%d] = %s, field %s: keep them in file order", i, k.Name, jsonKeys[i])
		}
	}
}

func TestSetGet(t *testing.T) {
	tests := []struct {
		key, value string
		want       string // Get after Set; "" with wantErr
		wantErr    string
	}{
		{"image_source", "build", "build", ""},
		{"image_source", "nonsense", "", "must be prebuilt or build"},
		{"update_check", "once", "once", ""},
		{"update_check", "weekly", "", "always, once or never"},
		{"port", "3100", "3100", ""},
		{"port", "80", "", "1024"},
		{"port", "abc", "", "whole number"},
		{"auto_restart", "no", "false", ""},
		{"auto_restart", "maybe", "", "true or false"},
		{"bind_address", "0.0.0.0", "0.0.0.0", ""},
		{"bind_address", "999.1.1.1", "", "invalid IP address"},
		{"image_repositories", "127.0.0.1:5001/a/b, ghcr.io/c/d", "127.0.0.1:5001/a/b,ghcr.io/c/d", ""},
		{"image_repositories", "", "", "at least one"},
		{"image_digest", "sha256:" + strings.Repeat("b", 64), "sha256:" + strings.Repeat("b", 64), ""},
		{"image_digest", "", "", ""},
		{"image_digest", "latest", "", "not a sha256 digest"},
		{"mounts", "/srv:/home/opencoder/workspace:ro", "/srv:/home/opencoder/workspace:ro", ""},
		{"network_mode", "host", "host", ""},
		{"boot_mode", "daemon", "", "user or system"},
		{"users", "bob", "", "occ user add"},
		{"env", "A=b", "", "occ config env"},
		{"version", "2", "", "cannot be set"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			c := DefaultConfig()
			before, _ := c.Marshal()
			k, err := LookupKey(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Set(k, tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				after, _ := c.Marshal()
				if string(before) != string(after) {
					t.Fatal("a failed Set changed the config")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Get(k); got != tt.want {
				t.Fatalf("Get = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestGetUsers: no users is upstream's "(none)", several are comma-joined.
func TestGetUsers(t *testing.T) {
	k, _ := LookupKey("users")
	for _, tt := range []struct {
		users []string
		want  string
	}{{nil, "(none)"}, {[]string{}, "(none)"}, {[]string{"alice"}, "alice"}, {[]string{"alice", "bob"}, "alice,bob"}} {
		c := DefaultConfig()
		c.Users = tt.users
		if got := c.Get(k); got != tt.want {
			t.Errorf("Get(users) with %v = %q, want %q", tt.users, got, tt.want)
		}
	}
}

// TestRestartKeys: the settings the container is made from say so
// (config set then asks for a restart); the others do not.
func TestRestartKeys(t *testing.T) {
	for _, tt := range []struct {
		key     string
		restart bool
	}{
		{"port", true}, {"bind_address", true}, {"mounts", true}, {"env", true}, {"memory_limit", true},
		{"trust_proxy", true}, {"network_mode", true},
		{"image_source", false}, {"update_check", false}, {"boot_mode", false}, {"users", false}, {"bind", false},
	} {
		k, err := LookupKey(tt.key)
		if err != nil {
			t.Fatal(err)
		}
		if k.Restart != tt.restart {
			t.Errorf("%s: Restart = %v, want %v", k.Name, k.Restart, tt.restart)
		}
	}
}

func TestSecretIsMasked(t *testing.T) {
	c := DefaultConfig()
	k, _ := LookupKey("password")
	if err := c.Set(k, "hunter2"); err != nil {
		t.Fatal(err)
	}
	if got := c.Get(k); got != masked {
		t.Fatalf("Get(password) = %q", got)
	}
}

func TestEnv(t *testing.T) {
	c := DefaultConfig()
	for _, kv := range []string{"A=1", "B=2", "A=3"} {
		if err := c.SetEnv(kv); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(c.ContainerEnv, " "); got != "A=3 B=2" {
		t.Fatalf("env = %q", got)
	}
	if err := c.SetEnv("no-equals"); err == nil {
		t.Fatal("accepted a pair without =")
	}
	if err := c.RemoveEnv("A"); err != nil || strings.Join(c.ContainerEnv, " ") != "B=2" {
		t.Fatalf("remove: %v %v", err, c.ContainerEnv)
	}
	if err := c.RemoveEnv("A"); err == nil {
		t.Fatal("removing a missing key succeeded")
	}
}

func TestParseMount(t *testing.T) {
	tests := []struct {
		in      string
		want    Mount
		wantErr bool
		errHas  string
	}{
		{in: "/a:/b", want: Mount{Source: "/a", Target: "/b"}},
		{in: "/a/:/b/c/:ro", want: Mount{Source: "/a", Target: "/b/c", ReadOnly: true}},
		{in: "/a:/b:rw", want: Mount{Source: "/a", Target: "/b"}},
		{in: "a:/b", wantErr: true},
		{in: "/a:b", wantErr: true},
		{in: "/a", wantErr: true},
		{in: "/a:/b:ro:x", wantErr: true},
		{in: "/a:/b:rx", wantErr: true},
		{in: "/a/../etc:/b", wantErr: true},
		{in: "/a:/", wantErr: true},
		{in: "/home/me/proj:/home/opencoder/workspace", want: Mount{Source: "/home/me/proj", Target: "/home/opencoder/workspace"}},
		{in: "/srv/data:/usr/local/share/data:ro", want: Mount{Source: "/srv/data", Target: "/usr/local/share/data", ReadOnly: true}},
		{in: "/home/me/users:/var/lib/opencode-users", want: Mount{Source: "/home/me/users", Target: "/var/lib/opencode-users"}},
		// Host paths that never go into the sandbox.
		{in: "/:/mnt", wantErr: true, errHas: "the whole host"},
		{in: "//:/mnt", wantErr: true, errHas: "the whole host"},
		{in: "/proc:/mnt", wantErr: true, errHas: "under /proc"},
		{in: "/proc/1/root:/mnt", wantErr: true, errHas: "under /proc"},
		{in: "/sys/fs/cgroup:/mnt", wantErr: true, errHas: "under /sys"},
		{in: "/dev:/mnt", wantErr: true, errHas: "under /dev"},
		{in: "/etc:/mnt:ro", wantErr: true, errHas: "under /etc"},
		{in: "/etc/ssl/certs:/mnt:ro", wantErr: true, errHas: "under /etc"},
		{in: "/run/containerd:/mnt", wantErr: true, errHas: "containerd"},
		{in: "/run/containerd/containerd.sock:/mnt", wantErr: true, errHas: "containerd"},
		{in: "/var/lib/containerd:/mnt", wantErr: true, errHas: "containerd"},
		{in: "/run/opencode-cloud:/mnt", wantErr: true, errHas: "under /run/opencode-cloud"},
		{in: "/etcetera:/mnt", want: Mount{Source: "/etcetera", Target: "/mnt"}},
		// Container paths the sandbox needs for itself.
		{in: "/a:/run/opencode-cloud", wantErr: true, errHas: "needs for itself"},
		{in: "/a:/run/opencode-cloud/x", wantErr: true, errHas: "needs for itself"},
		{in: "/a:/run", wantErr: true, errHas: "needs for itself"},
		{in: "/a:/proc", wantErr: true, errHas: "needs for itself"},
		{in: "/a:/proc/sys", wantErr: true, errHas: "needs for itself"},
		{in: "/a:/sys", wantErr: true, errHas: "needs for itself"},
		{in: "/a:/dev/shm", wantErr: true, errHas: "needs for itself"},
		{in: "/a:/etc", wantErr: true, errHas: "needs for itself"},
		{in: "/a:/etc/pam.d", wantErr: true, errHas: "needs for itself"},
		{in: "/a:/usr", wantErr: true, errHas: "needs for itself"},
		{in: "/a:/usr/local/bin", wantErr: true, errHas: "needs for itself"},
		// Control characters.
		{in: "/a\n:/b", wantErr: true, errHas: "control character"},
		{in: "/a:/b\n/c", wantErr: true, errHas: "control character"},
		{in: "/a:/b:ro\n", wantErr: true, errHas: "control character"},
		{in: "/a\t:/b", wantErr: true, errHas: "control character"},
		{in: "/a\x00:/b", wantErr: true, errHas: "control character"},
		{in: "/a\x7f:/b", wantErr: true, errHas: "control character"},
		{in: "/a\u0085:/b", wantErr: true, errHas: "control character"},
	}
	for _, tt := range tests {
		got, err := ParseMount(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseMount(%q) = %+v, %v", tt.in, got, err)
		}
		if err != nil && !strings.Contains(err.Error(), tt.errHas) {
			t.Errorf("ParseMount(%q): error %q does not say %q", tt.in, err, tt.errHas)
		}
	}
}

// Each key's Check in Keys is what Validate and Set run for that key.
func TestKeyChecks(t *testing.T) {
	tests := []struct {
		key    string
		mutate func(c *Config)
		fix    string
	}{
		{"opencode_web_port", func(c *Config) { c.OpencodeWebPort = 80 }, "occ config set opencode_web_port 3000"},
		{"boot_mode", func(c *Config) { c.BootMode = "boot" }, "occ config set boot_mode user"},
		{"users", func(c *Config) { c.Users = []string{"Root"} }, "occ user remove Root"},
		{"image_repositories", func(c *Config) { c.ImageRepositories = nil }, "occ config set image_repositories "},
		{"network_mode", func(c *Config) { c.NetworkMode = "bridge" }, "occ config set network_mode cni"},
		{"userns_base", func(c *Config) { c.UserNSBase = 1 }, "occ config set userns_base"},
		{"cpu_limit", func(c *Config) { c.CPULimit = "lots" }, "occ config set cpu_limit auto"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			c := DefaultConfig()
			if fe := c.validateField(tt.key); fe != nil {
				t.Fatalf("default value refused: %v", fe)
			}
			tt.mutate(c)
			fe := c.validateField(tt.key)
			if fe == nil || fe.Field != tt.key || fe.Problem == "" || !strings.HasPrefix(fe.Fix, tt.fix) {
				t.Fatalf("validateField(%s) = %+v, want a problem with fix %q", tt.key, fe, tt.fix)
			}
			var ve *ValidationError
			if err := c.Validate(); !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != tt.key {
				t.Errorf("Validate = %v, want only %s", err, tt.key)
			}
		})
	}
	if fe := DefaultConfig().validateField("auth_username"); fe != nil {
		t.Errorf("a key without a Check: %v", fe)
	}
}
