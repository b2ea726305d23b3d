package ops

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker/cli/cli/config/types"

	"github.com/opencode-cloud/occ/pkg/registry"
)

func TestKeychainAuthConfig(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name   string
		docker string // config.json; "" leaves none, so podman's file counts
		podman string // $REGISTRY_AUTH_FILE
		host   string
		want   types.AuthConfig
	}{
		{"podman auth.json, basic auth", "",
			`{"auths":{"reg.example:5000":{"auth":"` + b64("pod:secret") + `"}}}`, "reg.example:5000",
			types.AuthConfig{Username: "pod", Password: "secret", ServerAddress: "reg.example:5000"}},
		{"docker config, identity token", `{"auths":{"ghcr.io":{"identitytoken":"tok-123"}}}`, "",
			"ghcr.io", types.AuthConfig{IdentityToken: "tok-123", ServerAddress: "ghcr.io"}},
		{"docker config, basic auth", `{"auths":{"ghcr.io":{"auth":"` + b64("u:p:w") + `"}}}`, "",
			"ghcr.io", types.AuthConfig{Username: "u", Password: "p:w", ServerAddress: "ghcr.io"}},
		{"docker hub under BuildKit's name", `{"auths":{"https://index.docker.io/v1/":{"auth":"` + b64("hub:pw") + `"}}}`, "",
			"registry-1.docker.io", types.AuthConfig{Username: "hub", Password: "pw", ServerAddress: "registry-1.docker.io"}},
		{"docker config wins over podman's", `{"auths":{}}`,
			`{"auths":{"reg.example:5000":{"auth":"` + b64("pod:secret") + `"}}}`, "reg.example:5000",
			types.AuthConfig{ServerAddress: "reg.example:5000"}},
		{"anonymous", "", "", "quay.io", types.AuthConfig{ServerAddress: "quay.io"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dockerDir, podDir := t.TempDir(), t.TempDir()
			t.Setenv("DOCKER_CONFIG", dockerDir)
			t.Setenv("XDG_RUNTIME_DIR", podDir)
			t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(podDir, "auth.json"))
			if tt.docker != "" {
				if err := os.WriteFile(filepath.Join(dockerDir, "config.json"), []byte(tt.docker), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tt.podman != "" {
				if err := os.WriteFile(filepath.Join(podDir, "auth.json"), []byte(tt.podman), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := keychainAuthConfig(registry.Keychain)(context.Background(), tt.host, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got.Auth = "" // the base64 form, when the keychain keeps it
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestBuildAuthTLSFromHostsToml(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "reg.example_5000_")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(`ca = "ca.pem"`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := buildAuth(registry.Keychain, registry.NewHosts(root)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(`ca = [`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := buildAuth(registry.Keychain, registry.NewHosts(root)); err == nil {
		t.Fatal("a broken hosts.toml passed")
	}
}
