package ops

import (
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

func TestResetChecks(t *testing.T) {
	if err := CheckResetFlags(ResetOptions{CleanMounts: true, PurgeMounts: true}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("clean+purge: %v", err)
	}
	if err := CheckResetFlags(ResetOptions{Volumes: true, Images: true, PurgeMounts: true}); err != nil {
		t.Errorf("volumes+images+purge: %v", err)
	}
	tests := []struct {
		paths    meta.Paths
		wantData []string
		wantConf []string
		wantErr  string
	}{
		{meta.Paths{ConfigFile: "/h/.config/opencode-cloud/config.json", DataDir: "/h/.local/share/opencode-cloud"},
			[]string{"/h/.local/share/opencode-cloud"}, []string{"/h/.config/opencode-cloud"}, ""},
		{meta.Paths{ConfigFile: "/srv/conf/occ.json", DataDir: "/h/.local/share/opencode-cloud"},
			[]string{"/h/.local/share/opencode-cloud"}, []string{"/srv/conf/occ.json", "/srv/conf/occ.json.bak"}, ""},
		{meta.Paths{ConfigFile: "/h/c.json", DataDir: "/srv/data"}, nil, nil, "not one occ made"},
		{meta.Paths{ConfigFile: "/h/c.json", DataDir: "/opencode-cloud"}, nil, nil, "top-level"},
	}
	for _, tt := range tests {
		e := &Env{Paths: tt.paths}
		data, conf, err := e.ownDirs()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ownDirs(%+v) = %v, want %q", tt.paths, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(data, tt.wantData) || !reflect.DeepEqual(conf, tt.wantConf) {
			t.Errorf("ownDirs(%+v) = %q, %q, %v", tt.paths, data, conf, err)
		}
	}
}
