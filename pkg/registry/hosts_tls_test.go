package registry

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestHostsTLSFiles(t *testing.T) {
	write := func(t *testing.T, root, dir, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, dir, "hosts.toml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		files   map[string]string // dir -> hosts.toml (in the first root)
		second  map[string]string // in the second root
		want    func(root string) map[string]TLSFiles
		wantErr string
	}{
		{"nothing", nil, nil, func(string) map[string]TLSFiles { return map[string]TLSFiles{} }, ""},
		{"own CA, server and mirror client pair",
			map[string]string{"docker.io": `server = "https://registry-1.docker.io"
ca = "ca.pem"
[host."https://mirror.example:5000"]
  capabilities = ["pull"]
  client = [["c.pem", "/abs/c.key"]]
  skip_verify = true
[host."https://plain.example"]
`}, nil,
			func(root string) map[string]TLSFiles {
				own := TLSFiles{CAs: []string{filepath.Join(root, "docker.io", "ca.pem")}}
				return map[string]TLSFiles{
					"docker.io": own, "registry-1.docker.io": own,
					"mirror.example:5000": {KeyPairs: [][2]string{{filepath.Join(root, "docker.io", "c.pem"), "/abs/c.key"}}, SkipVerify: true},
				}
			}, ""},
		{"port directory, CA list, one-file client",
			map[string]string{"reg.example_5000_": `ca = ["/a.pem", "b.pem"]
client = "both.pem"
`, "_default": `ca = "/x.pem"`}, nil,
			func(root string) map[string]TLSFiles {
				return map[string]TLSFiles{"reg.example:5000": {
					CAs:      []string{"/a.pem", filepath.Join(root, "reg.example_5000_", "b.pem")},
					KeyPairs: [][2]string{{filepath.Join(root, "reg.example_5000_", "both.pem"), filepath.Join(root, "reg.example_5000_", "both.pem")}},
				}}
			}, ""},
		{"first directory wins",
			map[string]string{"r.example": `skip_verify = true`},
			map[string]string{"r.example": `ca = "/other.pem"`, "s.example": `ca = "/s.pem"`},
			func(string) map[string]TLSFiles {
				return map[string]TLSFiles{"r.example": {SkipVerify: true}, "s.example": {CAs: []string{"/s.pem"}}}
			}, ""},
		{"broken file named", map[string]string{"r.example": `[host."https://m"`}, nil, nil, filepath.Join("r.example", "hosts.toml")},
		{"bad ca", map[string]string{"r.example": `ca = 3`}, nil, nil, "ca: 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, root2 := t.TempDir(), t.TempDir()
			for d, b := range tt.files {
				write(t, root, d, b)
			}
			for d, b := range tt.second {
				write(t, root2, d, b)
			}
			got, err := NewHosts(root, root2).TLSFiles()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.want(root); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}
