package build

import "testing"

func TestOpencodeVersions(t *testing.T) {
	v, err := PinnedOpencodeVersion()
	if err != nil || CheckOpencodeVersion(v) != nil {
		t.Fatalf("PinnedOpencodeVersion = %q, %v", v, err)
	}
	for in, ok := range map[string]bool{"1.18.33": true, "1.19.0-beta.2": true, "latest": false, "1.18": false, "1.18.33; rm -rf /": false, "": false} {
		if err := CheckOpencodeVersion(in); (err == nil) != ok {
			t.Errorf("CheckOpencodeVersion(%q) = %v, want ok=%v", in, err, ok)
		}
	}
}
