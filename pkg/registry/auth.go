package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Credentials: occ has one source, in this order, for pulls (and `occ
// login` writes the first):
//
//  1. the Docker config: $DOCKER_CONFIG/config.json, else
//     ~/.docker/config.json; its credHelpers (per registry) and credsStore
//     (docker-credential-<name> helpers) before its auths entries, as
//     docker and nerdctl read it;
//  2. only when no Docker config exists: the containers auth file podman,
//     buildah and skopeo write ($REGISTRY_AUTH_FILE, else
//     $XDG_RUNTIME_DIR/containers/auth.json);
//  3. otherwise anonymous.
//
// This is go-containerregistry's authn.DefaultKeychain; Keychain names it
// so that every caller uses the same one.
var Keychain = authn.DefaultKeychain

// DockerConfigDir is where the Docker config is: $DOCKER_CONFIG, else
// ~/.docker (read on every call, as the keychain reads it).
func DockerConfigDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".docker"
	}
	return filepath.Join(home, ".docker")
}

// LoginOptions are the inputs of Login.
type LoginOptions struct {
	Registry string // host[:port]; docker.io for Docker Hub
	Username string
	Password string
	// Insecure lists registries that may be reached over plain HTTP or TLS
	// without verification (insecure_registries); loopback always may.
	Insecure []string
	// Hosts applies certs.d hosts.toml (CA, client certificate).
	Hosts *Hosts
	// Transport is the base transport (default: as for pulls).
	Transport http.RoundTripper
}

// AuthKey is the key a registry's credentials have in the Docker config:
// Docker Hub's is https://index.docker.io/v1/, every other registry's its
// host[:port].
func AuthKey(registry string) (string, error) {
	registry = strings.TrimSpace(registry)
	reg, err := name.NewRegistry(registry, name.StrictValidation)
	if err != nil || registry == "" || strings.ContainsAny(registry, "/@") {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
			"%q is not a registry host: give HOST[:PORT] such as ghcr.io or registry.example.com:5000", registry))
	}
	if reg.RegistryStr() == name.DefaultRegistry {
		return authn.DefaultAuthKey, nil
	}
	return reg.RegistryStr(), nil
}

// Login checks the credentials against the registry (its /v2/ endpoint,
// through the token handshake when it has one) and, when they work,
// stores them as `docker login` does: in the credential helper the Docker
// config names for the registry, else base64 in its auths. It returns the
// Docker config file's path.
func Login(ctx context.Context, o LoginOptions) (string, error) {
	key, err := AuthKey(o.Registry)
	if err != nil {
		return "", err
	}
	if o.Username == "" || o.Password == "" {
		return "", errdefs.ErrInvalidArgument.WithMessage("a user name and a password are needed (occ login -u NAME --password-stdin REGISTRY)")
	}
	if err := checkLogin(ctx, o); err != nil {
		return "", err
	}
	cf, err := dockerconfig.Load(DockerConfigDir())
	if err != nil {
		return "", fmt.Errorf("reading the Docker config in %s: %w", DockerConfigDir(), err)
	}
	auth := types.AuthConfig{Username: o.Username, Password: o.Password, ServerAddress: key}
	if err := cf.GetCredentialsStore(key).Store(auth); err != nil {
		return "", fmt.Errorf("storing the credentials for %s (%s): %w", o.Registry, cf.GetFilename(), err)
	}
	if err := cf.Save(); err != nil {
		return "", fmt.Errorf("saving %s: %w", cf.GetFilename(), err)
	}
	return cf.GetFilename(), nil
}

// Logout removes the registry's credentials from the Docker config (and
// its credential helper). removed is false when there were none.
func Logout(registry string) (file string, removed bool, err error) {
	key, err := AuthKey(registry)
	if err != nil {
		return "", false, err
	}
	cf, err := dockerconfig.Load(DockerConfigDir())
	if err != nil {
		return "", false, fmt.Errorf("reading the Docker config in %s: %w", DockerConfigDir(), err)
	}
	store := cf.GetCredentialsStore(key)
	existing, err := store.Get(key)
	if err != nil {
		return cf.GetFilename(), false, fmt.Errorf("reading the credentials for %s: %w", registry, err)
	}
	_, inFile := cf.AuthConfigs[key]
	if existing.Username == "" && existing.Password == "" && existing.IdentityToken == "" && !inFile {
		return cf.GetFilename(), false, nil
	}
	if err := store.Erase(key); err != nil {
		return cf.GetFilename(), false, fmt.Errorf("removing the credentials for %s: %w", registry, err)
	}
	delete(cf.AuthConfigs, key)
	if err := cf.Save(); err != nil {
		return cf.GetFilename(), false, fmt.Errorf("saving %s: %w", cf.GetFilename(), err)
	}
	return cf.GetFilename(), true, nil
}

// checkLogin pings the registry with the credentials, as docker login
// does: basic auth or the token handshake, then GET /v2/.
func checkLogin(ctx context.Context, o LoginOptions) error {
	opts := defaultOptions()
	opts.insecure = o.Insecure
	opts.transport = o.Transport
	var nopts []name.Option
	reg0, _ := name.NewRegistry(o.Registry)
	if opts.plainHTTPAllowed(reg0.RegistryStr()) {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(o.Registry, nopts...)
	if err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%q is not a registry host: %v", o.Registry, err))
	}
	inner := opts.baseTransport()
	if opts.plainHTTPAllowed(reg.RegistryStr()) {
		inner = skipTLSVerify(inner)
	}
	base := &httpsOnly{inner: o.Hosts.Transport(inner), allowed: opts.plainHTTPAllowed}
	auth := &authn.Basic{Username: o.Username, Password: o.Password}
	rt, err := transport.NewWithContext(ctx, reg, auth, base, nil)
	if err != nil {
		return loginError(o.Registry, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return loginError(o.Registry, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return errdefs.ErrUnauthenticated.WithMessage(fmt.Sprintf(
			"%s refused the user name or password (HTTP %d); nothing was saved", o.Registry, resp.StatusCode))
	}
	if resp.StatusCode != http.StatusOK {
		return errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("%s answered HTTP %d to GET /v2/; nothing was saved", o.Registry, resp.StatusCode))
	}
	return nil
}

func loginError(registry string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return errdefs.ErrUnauthenticated.WithMessage(fmt.Sprintf(
			"%s refused the user name or password (HTTP %d); nothing was saved", registry, te.StatusCode))
	}
	err = classifyTransportErr(err)
	if h := hint(err); h != "" {
		return fmt.Errorf("logging in to %s: %w; nothing was saved\n  To fix: %s", registry, err, h)
	}
	return fmt.Errorf("logging in to %s: %w; nothing was saved", registry, err)
}
