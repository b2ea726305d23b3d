package ops

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/registry"
)

func TestMirrorBase(t *testing.T) {
	serve := func() string {
		srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	origin, mirror := serve(), serve()
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	dgst, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{origin, mirror} {
		r, err := name.ParseReference(h + "/library/debian:12")
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
	}
	base := origin + "/library/debian:12"
	tests := []struct {
		name    string
		args    map[string]string
		ctx     *build.Context
		mirrors bool
		want    string
		said    string
	}{
		{"mirror pins the base", map[string]string{build.ArgBaseImage: base}, nil, true,
			mirror + "/library/debian@" + dgst.String(), "resolved through mirror " + mirror},
		{"no mirrors: left alone", map[string]string{build.ArgBaseImage: base}, nil, false, "", ""},
		{"user's context without BASE_IMAGE: left alone", nil, &build.Context{Name: "dir"}, true, "", ""},
		{"mirror without the image: left alone", map[string]string{build.ArgBaseImage: origin + "/library/other:1"}, nil, true,
			"", "No mirror in hosts.toml has base image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newTestEnv(t, nil)
			if tt.mirrors {
				dir := filepath.Join(te.Paths.ConfigDir(), "certs.d", strings.Replace(origin, ":", "_", 1)+"_")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				toml := "[host.\"http://" + mirror + "\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
				if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(toml), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			hosts := registry.NewHosts(registry.DefaultCertsDirs(te.Paths.ConfigDir())...)
			got, err := te.mirrorBase(context.Background(), hosts, ImageBuildOptions{BuildArgs: tt.args, Context: tt.ctx})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("base %q, want %q", got, tt.want)
			}
			if !strings.Contains(te.report.String(), tt.said) {
				t.Errorf("said %q, want %q in it", te.report.String(), tt.said)
			}
		})
	}
}
