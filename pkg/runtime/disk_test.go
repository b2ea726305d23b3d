package runtime

import "testing"

func TestOwnedImage(t *testing.T) {
	for name, want := range map[string]bool{
		"opencode-cloud.local/sandbox:current":  true,
		"opencode-cloud.local/sandbox:previous": true,
		"opencode-cloud.local/sandbox:update":   true,
		"opencode-cloud.local/sandboxes:x":      false,
		"docker.io/library/busybox:latest":      false,
		"ghcr.io/opencode-cloud/occ-sandbox:1":  false,
	} {
		if got := OwnedImage(name); got != want {
			t.Errorf("OwnedImage(%s) = %v, want %v", name, got, want)
		}
	}
}

func TestBindsLabelOf(t *testing.T) {
	tests := []struct {
		specs []string
		want  string
	}{
		{nil, ""},
		{[]string{"/b:/w/b", "/a:/w/a:ro"}, "/a:/w/a:ro,/b:/w/b"},
		{[]string{"/a:/w/a", "/c:/w/a"}, "/c:/w/a"},
		{[]string{"bad", "/a/:/w/a"}, "/a:/w/a"},
	}
	for _, tt := range tests {
		if got := BindsLabelOf(tt.specs); got != tt.want {
			t.Errorf("BindsLabelOf(%q) = %q, want %q", tt.specs, got, tt.want)
		}
	}
}
