package ops

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"

	"github.com/opencode-cloud/occ/pkg/registry"
)

// buildAuth is a build session's registry credentials: the keychain pulls
// use (registry.Keychain: the Docker config and its helpers, else
// podman's auth.json), and the TLS settings certs.d's hosts.toml gives
// each endpoint, for the token fetches BuildKit asks occ to make.
func buildAuth(kc authn.Keychain, hosts *registry.Hosts) (session.Attachable, error) {
	tlsFiles, err := hosts.TLSFiles()
	if err != nil {
		return nil, err
	}
	tlsConfigs := map[string]*authprovider.AuthTLSConfig{}
	for host, f := range tlsFiles {
		c := &authprovider.AuthTLSConfig{RootCAs: f.CAs, Insecure: f.SkipVerify}
		for _, kp := range f.KeyPairs {
			c.KeyPairs = append(c.KeyPairs, authprovider.TLSKeyPair{Certificate: kp[0], Key: kp[1]})
		}
		tlsConfigs[host] = c
	}
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: keychainAuthConfig(kc),
		TLSConfigs:         tlsConfigs,
	}), nil
}

// keychainAuthConfig adapts an authn.Keychain to BuildKit's
// AuthConfigProvider. BuildKit names Docker Hub registry-1.docker.io (or
// docker.io); the keychain knows it as index.docker.io. The keychain is
// asked every time (it reads the files itself), so nothing is cached.
func keychainAuthConfig(kc authn.Keychain) authprovider.AuthConfigProvider {
	return func(ctx context.Context, host string, _ []string, _ authprovider.ExpireCachedAuthCheck) (types.AuthConfig, error) {
		reg := host
		if reg == "registry-1.docker.io" || reg == "docker.io" {
			reg = name.DefaultRegistry
		}
		r, err := name.NewRegistry(reg)
		if err != nil {
			return types.AuthConfig{}, fmt.Errorf("registry credentials for %q: %w", host, err)
		}
		a, err := authn.Resolve(ctx, kc, r)
		if err != nil {
			return types.AuthConfig{}, fmt.Errorf("registry credentials for %s: %w", host, err)
		}
		ac, err := authn.Authorization(ctx, a)
		if err != nil {
			return types.AuthConfig{}, fmt.Errorf("registry credentials for %s: %w", host, err)
		}
		if ac.Username == "" && ac.Password == "" && ac.Auth != "" {
			// BuildKit reads Username/Password, not the base64 pair.
			if b, err := base64.StdEncoding.DecodeString(ac.Auth); err == nil {
				ac.Username, ac.Password, _ = strings.Cut(string(b), ":")
			}
		}
		return types.AuthConfig{
			Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
			IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
			ServerAddress: host,
		}, nil
	}
}
