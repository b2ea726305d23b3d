package meta

import (
	"reflect"
	"strings"
	"testing"
)

func TestUpsertMount(t *testing.T) {
	tests := []struct {
		name         string
		list         []string
		spec         string
		want         []string
		change       MountChange
		wantReplaced []string
	}{
		{"empty", nil, "/a:/w/a", []string{"/a:/w/a"}, MountAdded, nil},
		{"appended", []string{"/b:/w/b"}, "/a:/w/a", []string{"/b:/w/b", "/a:/w/a"}, MountAdded, nil},
		{"same", []string{"/a:/w/a", "/b:/w/b"}, "/a/:/w/a", []string{"/a:/w/a", "/b:/w/b"}, MountUnchanged, nil},
		{"same target new source", []string{"/a:/w/a", "/b:/w/b"}, "/c:/w/a", []string{"/c:/w/a", "/b:/w/b"}, MountReplaced, []string{"/a:/w/a"}},
		{"same target now ro", []string{"/a:/w/a"}, "/a:/w/a:ro", []string{"/a:/w/a:ro"}, MountReplaced, []string{"/a:/w/a"}},
		{"duplicates collapse", []string{"/a:/w/a", "/b:/w/b", "/c:/w/a"}, "/d:/w/a", []string{"/d:/w/a", "/b:/w/b"}, MountReplaced, []string{"/a:/w/a", "/c:/w/a"}},
		{"identical then other", []string{"/a:/w/a", "/c:/w/a"}, "/a:/w/a", []string{"/a:/w/a"}, MountReplaced, []string{"/c:/w/a"}},
		{"unparsable kept", []string{"bad", "/a:/w/a"}, "/b:/w/a", []string{"bad", "/b:/w/a"}, MountReplaced, []string{"/a:/w/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMount(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			orig := append([]string(nil), tt.list...)
			got, change, replaced := UpsertMount(tt.list, m)
			if !reflect.DeepEqual(got, tt.want) || change != tt.change || !reflect.DeepEqual(replaced, tt.wantReplaced) {
				t.Errorf("UpsertMount(%q, %s) = %q, %s, %q; want %q, %s, %q", tt.list, tt.spec, got, change, replaced, tt.want, tt.change, tt.wantReplaced)
			}
			if !reflect.DeepEqual(tt.list, orig) {
				t.Errorf("the input list changed: %q", tt.list)
			}
		})
	}
}

func TestRemoveMounts(t *testing.T) {
	tests := []struct {
		list, want, removed []string
		host                string
	}{
		{[]string{"/a:/w/a", "/b:/w/b", "/a:/w/c:ro"}, []string{"/b:/w/b"}, []string{"/a:/w/a", "/a:/w/c:ro"}, "/a"},
		{[]string{"/a:/w/a"}, []string{"/a:/w/a"}, nil, "/a/b"},
		{[]string{"/a:/w/a"}, nil, []string{"/a:/w/a"}, "/a/"},
		{[]string{"/x:relative", "/b:/w/b"}, []string{"/b:/w/b"}, []string{"/x:relative"}, "/x"},
		{nil, nil, nil, "/a"},
	}
	for _, tt := range tests {
		got, removed := RemoveMounts(tt.list, tt.host)
		if !reflect.DeepEqual(got, tt.want) || !reflect.DeepEqual(removed, tt.removed) {
			t.Errorf("RemoveMounts(%q, %s) = %q, %q; want %q, %q", tt.list, tt.host, got, removed, tt.want, tt.removed)
		}
	}
}

func TestMountNeedsForce(t *testing.T) {
	for target, want := range map[string]bool{
		"/var/www":                  true,
		"/var":                      true,
		"/usr/local/share/x":        true,
		"/opt/x":                    false,
		"/home/opencoder/workspace": false,
		"/variable":                 false,
		"/mnt/x":                    false,
	} {
		if got := MountNeedsForce(Mount{Source: "/src", Target: target}); got != want {
			t.Errorf("MountNeedsForce(%s) = %v, want %v", target, got, want)
		}
	}
}

func TestCheckCleanable(t *testing.T) {
	own := []string{"/home/alice/.config/opencode-cloud", "/home/alice/.local/share/opencode-cloud"}
	tests := []struct {
		dir     string
		wantErr string
	}{
		{"/home/alice/opencode", ""},
		{"/srv/projects/x", ""},
		{"/", "top-level"},
		{"/home", "top-level"},
		{"/tmp", "top-level"},
		{"/home/alice", "home directory"},
		{"/etc/ssl", "never goes into the sandbox"},
		{"/var/lib/containerd/x", "never goes into the sandbox"},
		{"/home/alice/.local/share/opencode-cloud/volumes", "occ's own"},
		{"/home/alice/.local/share", "occ's own"},
		{"relative/dir", "absolute"},
		{"/home/bob", "home directory"},
		{"/usr/local/src", "system's or other software's"},
		{"/var/lib/postgresql", "system's or other software's"},
		{"/var/www/site", ""},
		{"/opt/data", ""},
	}
	for _, tt := range tests {
		err := CheckCleanable(tt.dir, "/home/alice", own...)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("CheckCleanable(%s) = %v, want nil", tt.dir, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("CheckCleanable(%s) = %v, want an error with %q", tt.dir, err, tt.wantErr)
		}
	}
}
