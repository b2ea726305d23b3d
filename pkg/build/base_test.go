package build

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/moby/buildkit/session/auth/authprovider"
)

func TestDefaultBaseImageIsTheDockerfiles(t *testing.T) {
	b, err := fs.ReadFile(sandboxFiles, "sandbox/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if want := "ARG " + ArgBaseImage + "=" + DefaultBaseImage + "\n"; !strings.Contains(string(b), want) {
		t.Errorf("the sandbox Dockerfile has no %q: keep DefaultBaseImage the Dockerfile's default", want)
	}
}

func TestAuthIsTheCallers(t *testing.T) {
	_, att, err := sessionAttachables(Options{SystemCADir: NoSystemCA}, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	if len(att) != 0 {
		t.Errorf("without Options.Auth the session has %d attachables, want none (no credentials of its own)", len(att))
	}
	a := authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{})
	_, att, err = sessionAttachables(Options{SystemCADir: NoSystemCA, Auth: a}, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	if len(att) != 1 || att[0] != a {
		t.Errorf("attachables %v, want the caller's auth", att)
	}
}
