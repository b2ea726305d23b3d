package main

import "testing"

func TestParseRuncVersion(t *testing.T) {
	tests := []struct {
		name, out, version, commit string
	}{
		{"debian", "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\nlibseccomp: 2.5.4\n", "1.1.5+ds1", "1.1.5+ds1-1+deb12u1"},
		{"upstream", "runc version 1.2.4\ncommit: v1.2.4-0-g6c52b3fc\nspec: 1.2.0\ngo: go1.22.10\n", "1.2.4", "v1.2.4-0-g6c52b3fc"},
		{"no commit line", "runc version 1.0.0\n", "1.0.0", ""},
		{"not runc", "usage: something\n", "", ""},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, c := parseRuncVersion(tt.out)
			if v != tt.version || c != tt.commit {
				t.Errorf("parseRuncVersion = %q, %q; want %q, %q", v, c, tt.version, tt.commit)
			}
		})
	}
}
