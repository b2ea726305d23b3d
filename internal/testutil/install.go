package testutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// Install is a throw-away occ installation under Base: its own config,
// data and run directories, no colour, and none of the variables that
// would override its config's daemon settings.
type Install struct {
	Base   string
	Paths  meta.Paths
	RunDir string
	// Env is the environment for an occ binary: this process's, without
	// CONTAINERD_ADDRESS, CONTAINERD_NAMESPACE, CONTAINERD_SNAPSHOTTER,
	// BUILDKIT_HOST and CNI_PATH (occ takes them over the config file,
	// as nerdctl does), with Vars.
	Env []string
}

// Vars are the variables that point occ at an installation.
func (in Install) Vars() map[string]string {
	return map[string]string{
		"XDG_CONFIG_HOME": filepath.Join(in.Base, "config"),
		"XDG_DATA_HOME":   filepath.Join(in.Base, "data"),
		"XDG_STATE_HOME":  filepath.Join(in.Base, "state"),
		"OCC_RUN_DIR":     in.RunDir,
		"OCC_CONFIG":      "",
		"NO_COLOR":        "1",
		// occ update's release check stays on this machine (a port
		// nothing listens on: refused at once); tests of the self-update
		// pass --from.
		"OCC_RELEASE_URL": "http://127.0.0.1:9/",
	}
}

// NewInstall lays out an installation under base (a t.TempDir() when
// empty). extra variables (KEY=value) are added to Env after the others,
// so they win.
func NewInstall(t testing.TB, base string, extra ...string) Install {
	t.Helper()
	if base == "" {
		base = t.TempDir()
	}
	in := Install{Base: base, RunDir: filepath.Join(base, "run")}
	in.Paths = meta.Paths{
		ConfigFile: filepath.Join(base, "config", meta.AppName, "config.json"),
		DataDir:    filepath.Join(base, "data", meta.AppName),
	}
	in.Env = EnvironWithoutDaemons()
	for k, v := range in.Vars() {
		in.Env = append(in.Env, k+"="+v)
	}
	in.Env = append(in.Env, extra...)
	return in
}

// Setenv points this process at the installation (t.Setenv), for tests
// that run occ's code in-process (meta.DefaultPaths reads the same
// variables).
func (in Install) Setenv(t testing.TB) {
	t.Helper()
	for k, v := range in.Vars() {
		t.Setenv(k, v)
	}
}

// EnvironWithoutDaemons is os.Environ() without the variables that
// override the config's daemon settings.
func EnvironWithoutDaemons() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE", "CONTAINERD_SNAPSHOTTER", "BUILDKIT_HOST", "CNI_PATH":
			continue
		}
		env = append(env, kv)
	}
	return env
}
