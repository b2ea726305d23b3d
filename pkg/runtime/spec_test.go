package runtime

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/containernetworking/cni/libcni"

	"github.com/opencode-cloud/occ/pkg/meta"
)

func TestMergeEnv(t *testing.T) {
	tests := []struct {
		name  string
		lists [][]string
		want  []string
	}{
		{"empty", nil, nil},
		{"later wins, first position kept", [][]string{{"A=1", "B=1"}, {"B=2", "C=2"}, {"A=3"}}, []string{"A=3", "B=2", "C=2"}},
		{"values with =", [][]string{{"X=a=b"}, {"Y="}}, []string{"X=a=b", "Y="}},
		{"empty key dropped", [][]string{{"=x", "A=1"}}, []string{"A=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mergeEnv(tt.lists...); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("mergeEnv = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEnvOrder(t *testing.T) {
	cfg := meta.DefaultConfig()
	// The unsafe entries are what a config that skipped validation could
	// hold: they never reach the spec (the image's PATH stays).
	cfg.ContainerEnv = []string{"SHARED=config", "PATH=/tmp/evil", "OPENCODE_PORT=1", "LD_PRELOAD=/tmp/x.so", "XDG_CACHE_HOME=/c", "BASH_ENV=/tmp/rc", "ENV=/tmp/rc", "LD_LIBRARY_PATH=/tmp"}
	s := &Sandbox{opts: SpecOptions{Config: cfg}}
	image := []string{"PATH=/bin", "SHARED=image", "XDG_DATA_HOME=/img"}
	got := s.processEnv(image, MountPlan{})
	want := []string{"PATH=/bin", "SHARED=config", "XDG_DATA_HOME=/img",
		"XDG_STATE_HOME=/home/opencoder/.local/state", "XDG_CONFIG_HOME=/home/opencoder/.config",
		"OPENCODE_PORT=3000", "XDG_CACHE_HOME=/c", "OPENCODE_HOST=0.0.0.0",
		"OPENCODE_CLOUD_LOGIN_ATTEMPTS=5", "OPENCODE_CLOUD_LOGIN_WINDOW=60",
		"OPENCODE_CLOUD_TRUSTED_PROXIES=", "OPENCODE_CLOUD_HOST_MOUNTS="}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("env\n got %q\nwant %q", got, want)
	}
	cfg.NetworkMode = meta.NetworkHost
	cfg.OpencodeWebPort = 4100
	if got := s.occEnv(); !reflect.DeepEqual(got, []string{"OPENCODE_PORT=4100", "OPENCODE_HOST=127.0.0.1"}) {
		t.Fatalf("host-mode env %q", got)
	}
}

func TestFilterResolvConf(t *testing.T) {
	tests := []struct {
		in     string
		wantOK bool
		want   string
	}{
		{"nameserver 127.0.0.53\noptions edns0\n", false, "options edns0\n"},
		{"nameserver 10.0.0.1\nnameserver ::1\nsearch x\n", true, "nameserver 10.0.0.1\nsearch x\n"},
		{"", false, ""},
	}
	for _, tt := range tests {
		got, ok := filterResolvConf([]byte(tt.in))
		if ok != tt.wantOK || string(got) != tt.want {
			t.Errorf("filterResolvConf(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

// linkTo is a new symlink to target.
func linkTo(t *testing.T, target string) string {
	t.Helper()
	l := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(target, l); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestPlanMounts(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(t.TempDir(), "data", "opencode-cloud")
	if err := os.MkdirAll(filepath.Join(data, "volumes", "opencode-users"), 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		mounts     []string
		wantErr    string
		wantVols   int
		wantBinds  []string
		wantLabel  string
		wantTarget string // first OCI mount destination
	}{
		{name: "defaults", wantVols: 7, wantTarget: "/home/opencoder/workspace"},
		{name: "replaces a volume", mounts: []string{dir + ":/home/opencoder/workspace"}, wantVols: 6,
			wantBinds: []string{dir + ":/home/opencoder/workspace"}, wantLabel: dir + ":/home/opencoder/workspace"},
		{name: "last duplicate wins", mounts: []string{dir + ":/data", dir + ":/data:ro"}, wantVols: 7,
			wantBinds: []string{dir + ":/data:ro"}, wantLabel: dir + ":/data:ro", wantTarget: "/data"},
		{name: "missing source", mounts: []string{dir + "/nope:/data"}, wantErr: "does not exist"},
		{name: "file source", mounts: []string{file + ":/data"}, wantErr: "not a directory"},
		{name: "relative", mounts: []string{"rel:/data"}, wantErr: "absolute"},
		{name: "bad mode", mounts: []string{dir + ":/data:rx"}, wantErr: "ro or rw"},
		{name: "symlink to /etc", mounts: []string{linkTo(t, "/etc") + ":/data"}, wantErr: "leads to /etc"},
		{name: "symlink to /", mounts: []string{linkTo(t, "/") + ":/data"}, wantErr: "the whole host"},
		{name: "the data directory", mounts: []string{data + ":/data"}, wantErr: "data directory"},
		{name: "inside the data directory", mounts: []string{filepath.Join(data, "volumes", "opencode-users") + ":/data"}, wantErr: "data directory"},
		{name: "a parent of the data directory", mounts: []string{filepath.Dir(data) + ":/data"}, wantErr: "data directory"},
		{name: "a symlink into the data directory", mounts: []string{linkTo(t, filepath.Join(data, "volumes")) + ":/data"}, wantErr: "data directory"},
		{name: "reserved target", mounts: []string{dir + ":/run/opencode-cloud"}, wantErr: "the sandbox needs for itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := meta.DefaultConfig()
			cfg.Mounts = tt.mounts
			vols := filepath.Join(data, "volumes")
			plan, err := PlanMounts(cfg, vols)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v, want invalid argument containing %q", err, tt.wantErr)
				}
				if _, serr := os.Stat(filepath.Join(vols, "opencode-workspace")); !errors.Is(serr, os.ErrNotExist) {
					t.Fatal("planning created the volumes directory")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.Volumes) != tt.wantVols {
				t.Fatalf("%d volumes, want %d", len(plan.Volumes), tt.wantVols)
			}
			var binds []string
			for _, b := range plan.Binds {
				binds = append(binds, b.String())
			}
			if !reflect.DeepEqual(binds, tt.wantBinds) || plan.BindsLabel() != tt.wantLabel {
				t.Fatalf("binds %q label %q", binds, plan.BindsLabel())
			}
			ms := plan.OCIMounts()
			for i := 1; i < len(ms); i++ {
				if depth(ms[i].Destination) < depth(ms[i-1].Destination) {
					t.Fatalf("mount %s comes after deeper %s", ms[i].Destination, ms[i-1].Destination)
				}
			}
			if tt.wantTarget != "" && ms[0].Destination != tt.wantTarget {
				t.Fatalf("first mount %s, want %s", ms[0].Destination, tt.wantTarget)
			}
		})
	}
}

func TestPrepareVolumes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to 1000 needs root")
	}
	cfg := meta.DefaultConfig()
	vols := filepath.Join(t.TempDir(), "volumes")
	plan, err := PlanMounts(cfg, vols)
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.Prepare(); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(vols, "opencode-workspace", "keep")
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := plan.Prepare(); err != nil { // idempotent, keeps data
		t.Fatal(err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatal("Prepare lost data")
	}
	for _, v := range Volumes {
		st, err := os.Stat(plan.Source(v))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != v.Mode {
			t.Errorf("%s mode %v, want %v", v.Name, st.Mode().Perm(), v.Mode)
		}
	}
}

func TestCNIConflist(t *testing.T) {
	conf, err := cniConflist(NetworkOptions{Name: "n", Bridge: "occ0", Subnet: "10.1.2.0/24"}, "/x/ipam")
	if err != nil {
		t.Fatal(err)
	}
	list, err := libcni.ConfListFromBytes(conf)
	if err != nil {
		t.Fatalf("libcni rejects the conflist: %v\n%s", err, conf)
	}
	var types []string
	for _, p := range list.Plugins {
		types = append(types, p.Network.Type)
	}
	if !reflect.DeepEqual(types, []string{"bridge", "portmap", "firewall"}) {
		t.Fatalf("plugins %v", types)
	}
	var raw map[string]any
	_ = json.Unmarshal(list.Plugins[0].Bytes, &raw)
	if raw["bridge"] != "occ0" || raw["ipam"].(map[string]any)["dataDir"] != "/x/ipam" {
		t.Fatalf("bridge conf %s", list.Plugins[0].Bytes)
	}
	for _, bad := range []NetworkOptions{{Name: "n", Bridge: "occ0", Subnet: "nope"}, {Name: "n", Bridge: "a-very-long-bridge-name", Subnet: "10.0.0.0/24"}} {
		if _, err := cniConflist(bad, "/x"); !errdefs.IsInvalidArgument(err) {
			t.Errorf("cniConflist(%+v) = %v, want invalid argument", bad, err)
		}
	}
}

func TestProbeAddress(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:3000": "127.0.0.1:3000",
		"0.0.0.0:3000":   "127.0.0.1:3000",
		"[::]:3000":      "127.0.0.1:3000",
		"10.0.0.5:80":    "10.0.0.5:80",
	} {
		if got := ProbeAddress(in); got != want {
			t.Errorf("ProbeAddress(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestProcStartTime(t *testing.T) {
	st, ok := procStartTime(uint32(os.Getpid()))
	if !ok {
		t.Skip("no /proc")
	}
	boot, _ := bootTime()
	if st.Before(boot) {
		t.Fatalf("start %v before boot %v", st, boot)
	}
	if _, ok := procStartTime(0); ok {
		t.Fatal("pid 0 has a start time")
	}
}
