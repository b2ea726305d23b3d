//go:build packaging

package packaging

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// TestGoInstallVersion serves this commit as module version v0.98.7 from a
// file:// GOPROXY (the other modules from the usual proxy or the module
// cache) and runs `go install github.com/opencode-cloud/occ/cmd/occ@v0.98.7`,
// as a user would: the installed occ must say 0.98.7 without any -ldflags.
// Module downloads carry no VCS data, so its commit is "unknown".
func TestGoInstallVersion(t *testing.T) {
	const path, version = "github.com/opencode-cloud/occ", "v0.98.7"
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	// The committed tree only (no bin/, dist/), as the proxy would serve the tag.
	archive := exec.Command("sh", "-c", `git -C .. archive --format=tar HEAD | tar -x -C "$0"`, src)
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive: %v\n%s", err, out)
	}
	proxy := filepath.Join(tmp, "proxy", path, "@v")
	if err := os.MkdirAll(proxy, 0o755); err != nil {
		t.Fatal(err)
	}
	zf, err := os.Create(filepath.Join(proxy, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	if err := modzip.CreateFromDir(zf, module.Version{Path: path, Version: version}, src); err != nil {
		t.Fatalf("module zip: %v", err)
	}
	if err := zf.Close(); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(map[string]any{"Version": version, "Time": time.Now().UTC().Format(time.RFC3339)})
	for name, data := range map[string][]byte{version + ".mod": gomod, version + ".info": info, "list": []byte(version + "\n")} {
		if err := os.WriteFile(filepath.Join(proxy, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	gobin := filepath.Join(tmp, "bin")
	install := exec.Command("go", "install", path+"/cmd/occ@"+version)
	install.Env = append(os.Environ(),
		"GOBIN="+gobin,
		"GOPROXY=file://"+filepath.Join(tmp, "proxy")+","+goEnv(t, "GOPROXY"),
		"GONOSUMDB="+path, "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
	install.Dir = tmp
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("go install %s/cmd/occ@%s: %v\n%s", path, version, err, out)
	}
	out, err := exec.Command(filepath.Join(gobin, "occ"), "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), "occ 0.98.7 (commit unknown)"; got != want {
		t.Errorf("occ --version after go install @%s = %q, want %q", version, got, want)
	}
}

func goEnv(t *testing.T, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
