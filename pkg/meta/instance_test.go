package meta

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestValidateInstance(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"", true}, {"a", true}, {"0", true}, {"dev-1", true}, {"wt-0123456789ab", true},
		{strings.Repeat("a", 32), true}, {strings.Repeat("a", 33), false},
		{"-a", false}, {"A", false}, {"a_b", false}, {"a.b", false}, {"a/b", false}, {"a b", false}, {"é", false},
	} {
		err := ValidateInstance(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateInstance(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if err != nil && !errdefs.IsInvalidArgument(err) {
			t.Errorf("ValidateInstance(%q): %v is not invalid-argument", tc.id, err)
		}
	}
}

func TestAutoInstanceFor(t *testing.T) {
	// FNV-1a-64 of "" is cbf29ce484222325: the first 12 hex digits.
	for _, tc := range []struct{ path, want string }{
		{"", "wt-cbf29ce48422"},
		{"/home/u/src/occ", AutoInstanceFor("/home/u/src/occ")},
	} {
		got := AutoInstanceFor(tc.path)
		if got != tc.want || len(got) != 15 || ValidateInstance(got) != nil {
			t.Errorf("AutoInstanceFor(%q) = %q, want %q (15 characters, valid)", tc.path, got, tc.want)
		}
	}
	if AutoInstanceFor("/a") == AutoInstanceFor("/b") {
		t.Error("two directories share an auto instance")
	}
}

func TestResolveInstanceAuto(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "x", "y")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Outside git: the directory itself.
	if got, err := ResolveInstance("auto", sub); err != nil || got != AutoInstanceFor(filepath.Join(real, "x", "y")) {
		t.Errorf("auto outside git = %q, %v", got, err)
	}
	if _, err := exec.LookPath("git"); err == nil {
		if out, err := exec.Command("git", "init", "-q", dir).CombinedOutput(); err != nil {
			t.Fatalf("git init: %v %s", err, out)
		}
		// Inside a work tree: its top level, from any directory in it.
		want := AutoInstanceFor(real)
		for _, d := range []string{dir, sub} {
			if got, err := ResolveInstance("auto", d); err != nil || got != want {
				t.Errorf("auto in %s = %q, %v; want %q", d, got, err, want)
			}
		}
	}
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{{"", "", true}, {"dev", "dev", true}, {" dev ", "dev", true}, {"Dev", "", false}, {"auto-x", "auto-x", true}} {
		got, err := ResolveInstance(tc.in, dir)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ResolveInstance(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestInstanceNames(t *testing.T) {
	base := Paths{ConfigFile: "/c/opencode-cloud/config.json", DataDir: "/d/opencode-cloud"}
	def := base.WithInstance("")
	inst := base.WithInstance("dev")
	for _, tc := range []struct{ what, got, want string }{
		// The default instance keeps occ's names exactly.
		{"config", def.ConfigFile, "/c/opencode-cloud/config.json"},
		{"container", def.ContainerName(), "opencode-cloud-sandbox"},
		{"current", def.Images().Current, "opencode-cloud.local/sandbox:current"},
		{"previous", def.Images().Previous, "opencode-cloud.local/sandbox:previous"},
		{"update", def.Images().Update, "opencode-cloud.local/sandbox:update"},
		{"state", def.StateFile(), "/d/opencode-cloud/image-state.json"},
		{"lock", def.LockFile(), "/d/opencode-cloud/occ.lock"},
		{"volumes", def.VolumesDir(), "/d/opencode-cloud/volumes"},
		{"logs", def.LogsDir(), "/d/opencode-cloud/logs"},
		{"sandbox", def.SandboxDir(), "/d/opencode-cloud/sandbox"},
		{"unit", def.UnitName(), "opencode-cloud"},
		// An instance's own.
		{"config", inst.ConfigFile, "/c/opencode-cloud/config-dev.json"},
		{"base config", inst.BaseConfigFile(), "/c/opencode-cloud/config.json"},
		{"container", inst.ContainerName(), "opencode-cloud-sandbox-dev"},
		{"current", inst.Images().Current, "opencode-cloud.local/sandbox:instance-dev"},
		{"previous", inst.Images().Previous, "opencode-cloud.local/sandbox:instance-dev.previous"},
		{"update", inst.Images().Update, "opencode-cloud.local/sandbox:instance-dev.update"},
		{"state", inst.StateFile(), "/d/opencode-cloud/image-state-dev.json"},
		{"lock", inst.LockFile(), "/d/opencode-cloud/occ-dev.lock"},
		{"volumes", inst.VolumesDir(), "/d/opencode-cloud/volumes-dev"},
		{"logs", inst.LogsDir(), "/d/opencode-cloud/logs-dev"},
		{"sandbox", inst.SandboxDir(), "/d/opencode-cloud/sandbox-dev"},
		{"unit", inst.UnitName(), "opencode-cloud-dev"},
		{"label", inst.InstanceLabels()[LabelInstance], "dev"},
		// Applying it twice changes nothing.
		{"config twice", inst.WithInstance("dev").ConfigFile, "/c/opencode-cloud/config-dev.json"},
		// Another instance from an instance's paths.
		{"config other", inst.WithInstance("b").ConfigFile, "/c/opencode-cloud/config-b.json"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.what, tc.got, tc.want)
		}
	}
	if def.InstanceLabels() != nil {
		t.Errorf("the default instance has labels: %v", def.InstanceLabels())
	}
	// Instances never share a name with each other or the default.
	seen := map[string]string{}
	for _, id := range []string{"", "a", "a-previous", "a-update", "previous", "update", "current"} {
		n := base.WithInstance(id).Images()
		for _, name := range []string{n.Current, n.Previous, n.Update} {
			if other, dup := seen[name]; dup {
				t.Errorf("image record %s is instance %q's and %q's", name, other, id)
			}
			seen[name] = id
		}
	}
}

func TestLoadConfigForInstance(t *testing.T) {
	dir := t.TempDir()
	p := Paths{ConfigFile: filepath.Join(dir, "config.json"), DataDir: dir}
	inst := p.WithInstance("dev")

	// Nothing anywhere: the defaults.
	cfg, exists, err := LoadConfigFor(inst)
	if err != nil || exists || cfg.OpencodeWebPort != DefaultConfig().OpencodeWebPort {
		t.Fatalf("no files: %+v %v %v", cfg, exists, err)
	}
	// The default's config: the instance starts from it, without its users.
	base := DefaultConfig()
	base.ImageTag, base.Users, base.OpencodeWebPort = "v9", []string{"alice"}, 4000
	if err := SaveConfig(p.ConfigFile, base); err != nil {
		t.Fatal(err)
	}
	cfg, exists, err = LoadConfigFor(inst)
	if err != nil || exists || cfg.ImageTag != "v9" || len(cfg.Users) != 0 {
		t.Fatalf("inherited: %+v exists=%v %v", cfg, exists, err)
	}
	// Its own file wins, and the default's is untouched by it.
	cfg.OpencodeWebPort = 4001
	if err := SaveConfig(inst.ConfigFile, cfg); err != nil {
		t.Fatal(err)
	}
	if cfg, exists, err = LoadConfigFor(inst); err != nil || !exists || cfg.OpencodeWebPort != 4001 {
		t.Fatalf("own file: %+v %v %v", cfg, exists, err)
	}
	if cfg, _, err = LoadConfigFor(p); err != nil || cfg.OpencodeWebPort != 4000 || len(cfg.Users) != 1 {
		t.Fatalf("default after the instance's save: %+v %v", cfg, err)
	}
	// A broken default config is reported, not silently replaced.
	if err := os.Remove(inst.ConfigFile); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.ConfigFile, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadConfigFor(inst); err == nil {
		t.Error("a broken default config loaded for the instance")
	}
}
