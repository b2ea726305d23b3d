package main

import (
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/pkg/ops"
)

func TestRenderUsers(t *testing.T) {
	uid := uint32(1001)
	tests := []struct {
		name  string
		users []ops.UserInfo
		want  string
	}{
		{"running sandbox", []ops.UserInfo{
			{Username: "alice", Enabled: true, UID: &uid, Home: "/nonexistent", Shell: "/usr/sbin/nologin"},
			{Username: "bob"},
		}, "USERNAME  STATUS    UID   HOME          SHELL\n" +
			"alice     enabled   1001  /nonexistent  /usr/sbin/nologin\n" +
			"bob       disabled  -     -             -\n"},
		{"not running", []ops.UserInfo{{Username: "carol", Enabled: true}},
			"USERNAME  STATUS   UID  HOME  SHELL\ncarol     enabled  -    -     -\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := renderUsers(&b, tt.users); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}
