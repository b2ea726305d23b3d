package meta

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "1d3795cfc9eeded6005423c1060f2664e09ebe10"
	tests := []struct {
		name                  string
		version, commit       string // as -ldflags left them
		main                  string
		settings              []debug.BuildSetting
		wantVersion, wantComm string
	}{
		{"ldflags win", "1.2.3", "abc1234", "v9.9.9", vcs(rev, "false"), "1.2.3", "abc1234"},
		{"go test / go build without VCS", "0.1.0", "", "(devel)", nil, "0.1.0", "unknown"},
		{"no module version", "0.1.0", "", "", nil, "0.1.0", "unknown"},
		{"go install @v1.2.3", "0.1.0", "", "v1.2.3", nil, "1.2.3", "unknown"},
		{"go install @v1.3.0-rc.1", "0.1.0", "", "v1.3.0-rc.1", nil, "1.3.0-rc.1", "unknown"},
		{"go install @main (pseudo-version)", "0.1.0", "", "v0.1.1-0.20261203093100-abcdef123456", nil, "0.1.0", "abcdef123456"},
		{"pseudo-version without a tag", "0.1.0", "", "v0.0.0-20261203093100-abcdef123456", nil, "0.1.0", "abcdef123456"},
		{"go build at a clean tag checkout", "0.1.0", "", "v0.2.0", vcs(rev, "false"), "0.2.0", "1d3795cfc9ee"},
		{"go build at a dirty tag checkout", "0.1.0", "", "v0.2.0+dirty", vcs(rev, "true"), "0.1.0", "1d3795cfc9ee-dirty"},
		{"go build between tags", "0.1.0", "", "v0.2.1-0.20261203093100-1d3795cfc9ee+dirty", vcs(rev, "true"), "0.1.0", "1d3795cfc9ee-dirty"},
		{"garbage module version", "0.1.0", "", "latest", nil, "0.1.0", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/opencode-cloud/occ", Version: tt.main}, Settings: tt.settings}
			v, c := fromBuildInfo(tt.version, tt.commit, bi)
			if v != tt.wantVersion || c != tt.wantComm {
				t.Errorf("fromBuildInfo(%q, %q, %q) = %q, %q; want %q, %q", tt.version, tt.commit, tt.main, v, c, tt.wantVersion, tt.wantComm)
			}
		})
	}
}
