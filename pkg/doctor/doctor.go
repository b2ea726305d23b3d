// Package doctor is occ's diagnostics engine: it checks what occ needs
// (containerd, runc, isolation, CNI, BuildKit, the registries,
// privileges, disk space) and returns the results as data, each with the
// fix when something is wrong. Rendering is the caller's (cmd/occ's
// `occ doctor`, text or JSON).
//
// The checks are a slice of CheckFunc (Checks); a caller adds its own
// (the settings in effect, rootless checks) by putting more funcs in the
// slice it passes to Run. Everything a check asks the host goes through
// Env, so tests replace it with fakes.
package doctor

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/registry"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// Status is the outcome of one check.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn" // works, but worth knowing; or missing and not needed
	Fail Status = "fail" // missing and needed: doctor exits non-zero
	Skip Status = "skip" // could not be checked because an earlier check failed
)

// Check is one line of `occ doctor`: what was checked, what was found,
// and the fix when something is wrong.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// CheckFunc is one group of checks; it returns its rows in order.
type CheckFunc func(ctx context.Context, env *Env) []Check

// Checks are the standard checks, in the order `occ doctor` prints them.
// Put a new check here (or pass extra funcs to Run in the caller).
func Checks() []CheckFunc {
	return []CheckFunc{
		Containerd,
		Runc,
		Isolation,
		Network,
		BuildKit,
		Registries,
		Privileges,
		Disk,
	}
}

// ContainerdClient is what the containerd checks ask containerd;
// *runtime.Client implements it.
type ContainerdClient interface {
	Version(ctx context.Context) (version string, err error)
	Namespaces(ctx context.Context) ([]string, error)
	SnapshotterPlugin(ctx context.Context, name string) (found bool, initErr string, err error)
	Close() error
}

// BuildKitInfo is what the BuildKit check reports of a reachable daemon.
type BuildKitInfo struct {
	Address, Version string
	Worker           build.WorkerInfo
}

// Env is what the checks look at: the config in effect and the host.
// The funcs default to the real host (Run fills in the nil ones).
type Env struct {
	Config *meta.Config
	Paths  meta.Paths
	// Hosts is the certs.d registry configuration (nil: the directories
	// pulls read, registry.DefaultCertsDirs of the config directory).
	Hosts *registry.Hosts

	// ConnectContainerd connects to the containerd cfg names.
	ConnectContainerd func(ctx context.Context, cfg *meta.Config) (ContainerdClient, error)
	// ConnectBuildKit asks the first BuildKit that answers at addrs.
	ConnectBuildKit func(ctx context.Context, addrs []string) (BuildKitInfo, error)
	// LookPath finds an executable (exec.LookPath).
	LookPath func(file string) (string, error)
	// Output runs a command and returns its standard output.
	Output func(name string, args ...string) ([]byte, error)
	// FreeBytes is the space free to unprivileged users at dir.
	FreeBytes func(dir string) (int64, error)
	// Geteuid is the effective user id.
	Geteuid func() int
	// Rootless are the rootless-mode lines (runtime.RootlessChecks): the
	// mode and each prerequisite of rootless containerd, with its fix.
	Rootless func() []runtime.RootlessCheck
}

// Run runs checks in order against env and returns every row.
func Run(ctx context.Context, env *Env, checks []CheckFunc) []Check {
	e := env.withDefaults()
	var out []Check
	for _, c := range checks {
		out = append(out, c(ctx, e)...)
	}
	return out
}

// Failed counts the failed checks.
func Failed(results []Check) int {
	n := 0
	for _, r := range results {
		if r.Status == Fail {
			n++
		}
	}
	return n
}

// ConfigCheck is the config file's row: loadErr when it did not load,
// else whether cfg (the file's, or the defaults when it does not exist)
// is valid. A config that did not load stops the doctor: the other
// checks need one.
func ConfigCheck(file string, exists bool, cfg *meta.Config, loadErr error) Check {
	switch {
	case loadErr != nil:
		return Check{Name: "config", Status: Fail, Detail: loadErr.Error(), Fix: "fix the file, or `occ config reset`"}
	case !exists:
		return Check{Name: "config", Status: OK, Detail: file + " does not exist yet: using the defaults"}
	}
	if err := cfg.Validate(); err != nil {
		return Check{Name: "config", Status: Fail, Detail: err.Error(), Fix: "run the fixes above (occ config set KEY VALUE)"}
	}
	return Check{Name: "config", Status: OK, Detail: file + " is valid"}
}

// checkTimeout bounds each network check.
const checkTimeout = 5 * time.Second

func (e *Env) withDefaults() *Env {
	c := *e
	if c.ConnectContainerd == nil {
		c.ConnectContainerd = func(ctx context.Context, cfg *meta.Config) (ContainerdClient, error) {
			rt, err := runtime.ConnectConfig(ctx, cfg)
			if err != nil {
				return nil, err
			}
			return runtimeContainerd{rt}, nil
		}
	}
	if c.ConnectBuildKit == nil {
		c.ConnectBuildKit = func(ctx context.Context, addrs []string) (BuildKitInfo, error) {
			d, err := build.Connect(ctx, addrs)
			if err != nil {
				return BuildKitInfo{}, err
			}
			defer d.Close()
			return BuildKitInfo{Address: d.Address, Version: d.Version, Worker: d.Worker}, nil
		}
	}
	if c.LookPath == nil {
		c.LookPath = exec.LookPath
	}
	if c.Output == nil {
		c.Output = func(name string, args ...string) ([]byte, error) { return exec.Command(name, args...).Output() }
	}
	if c.FreeBytes == nil {
		c.FreeBytes = func(dir string) (int64, error) {
			var st unix.Statfs_t
			if err := unix.Statfs(dir, &st); err != nil {
				return 0, err
			}
			return int64(st.Bavail) * int64(st.Bsize), nil
		}
	}
	if c.Geteuid == nil {
		c.Geteuid = os.Geteuid
	}
	if c.Rootless == nil {
		c.Rootless = runtime.RootlessChecks
	}
	return &c
}

// runtimeContainerd is a runtime.Client as Containerd.
type runtimeContainerd struct{ *runtime.Client }

func (r runtimeContainerd) Version(ctx context.Context) (string, error) {
	v, err := r.Client.Version(ctx)
	return v.Version, err
}

// oneLine is the first line of an error.
func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimSuffix(s, ":")
}
