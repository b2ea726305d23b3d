package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	goruntime "runtime"
	"strings"
	"sync"
	"time"

	"github.com/opencode-cloud/occ/pkg/build"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// VersionCmd prints occ's version, commit, Go version and platform, and the
// versions of containerd, runc and BuildKit when they answer (as `nerdctl
// version` does). A daemon that does not answer within versionTimeout is
// reported as such; the command still succeeds.
type VersionCmd struct {
	JSON bool `name:"json" help:"Print the versions as JSON."`
}

// versionTimeout bounds each daemon query (they run at once).
const versionTimeout = 2 * time.Second

// versionReport is `occ version --json`.
type versionReport struct {
	Occ        occVersion       `json:"occ"`
	Containerd componentVersion `json:"containerd"`
	Runc       componentVersion `json:"runc"`
	Buildkit   componentVersion `json:"buildkit"`
	ConfigErr  string           `json:"config_error,omitempty"`
}

type occVersion struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// componentVersion is one daemon or tool: its version when it answered,
// otherwise Error says why not.
type componentVersion struct {
	Version  string `json:"version,omitempty"`
	Revision string `json:"revision,omitempty"`
	Address  string `json:"address,omitempty"`
	Error    string `json:"error,omitempty"`
}

func (c *VersionCmd) Run(ctx context.Context, app *App) error {
	cfg, _, err := app.LoadConfig()
	r := versionReport{Occ: occVersion{
		Version:   meta.Version,
		Commit:    meta.Commit,
		GoVersion: goruntime.Version(),
		Platform:  goruntime.GOOS + "/" + goruntime.GOARCH,
	}}
	if err != nil {
		// The daemons' addresses then come from the environment and the defaults.
		r.ConfigErr = err.Error()
		cfg = meta.DefaultConfig()
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.Containerd = containerdVersion(ctx, cfg) })
	wg.Go(func() { r.Runc = runcVersion(ctx) })
	wg.Go(func() { r.Buildkit = buildkitVersion(ctx, cfg) })
	wg.Wait()

	if c.JSON {
		enc := json.NewEncoder(app.UI.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	w := app.UI.Out
	fmt.Fprintf(w, "occ:\n  Version:    %s\n  Commit:     %s\n  Go version: %s\n  Platform:   %s\n",
		r.Occ.Version, r.Occ.Commit, r.Occ.GoVersion, r.Occ.Platform)
	for _, s := range []struct {
		name string
		v    componentVersion
	}{{"containerd", r.Containerd}, {"runc", r.Runc}, {"BuildKit", r.Buildkit}} {
		fmt.Fprintf(w, "\n%s:\n", s.name)
		if s.v.Error != "" {
			fmt.Fprintf(w, "  %s\n", s.v.Error)
			continue
		}
		fmt.Fprintf(w, "  Version:    %s\n", s.v.Version)
		if s.v.Revision != "" {
			fmt.Fprintf(w, "  Revision:   %s\n", s.v.Revision)
		}
		fmt.Fprintf(w, "  Address:    %s\n", s.v.Address)
	}
	if r.ConfigErr != "" {
		app.UI.Warnf("the config did not load (%s); the daemons' addresses are the defaults", firstLine(r.ConfigErr))
	}
	return nil
}

func containerdVersion(ctx context.Context, cfg *meta.Config) componentVersion {
	v := componentVersion{Address: strings.TrimPrefix(cfg.ContainerdAddress(), "unix://")}
	cctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	rt, err := runtime.Connect(cctx, v.Address, cfg.ContainerdNamespace, cfg.Snapshotter)
	if err != nil {
		v.Error = "not reachable: " + oneLine(err)
		return v
	}
	defer rt.Close()
	ver, err := rt.Version(rt.WithNamespace(cctx))
	if err != nil {
		v.Error = "no answer: " + oneLine(err)
		return v
	}
	v.Version, v.Revision = ver.Version, ver.Revision
	return v
}

// runcVersion runs the runc on PATH (the one containerd's runc shim finds)
// with --version.
func runcVersion(ctx context.Context) componentVersion {
	var v componentVersion
	p, err := exec.LookPath("runc")
	if err != nil {
		v.Error = "not found on PATH"
		return v
	}
	v.Address = p
	cctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	out, err := exec.CommandContext(cctx, p, "--version").Output()
	if err != nil {
		v.Error = p + " --version failed: " + oneLine(err)
		return v
	}
	v.Version, v.Revision = parseRuncVersion(string(out))
	if v.Version == "" {
		v.Error = p + " --version printed no version"
	}
	return v
}

// parseRuncVersion reads `runc --version`: "runc version 1.1.5+ds1\ncommit:
// 1.1.5+ds1-1\nspec: 1.0.2-dev\n…".
func parseRuncVersion(out string) (version, commit string) {
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "runc version "); ok {
			version = strings.TrimSpace(rest)
		} else if rest, ok := strings.CutPrefix(line, "commit:"); ok {
			commit = strings.TrimSpace(rest)
		}
	}
	return version, commit
}

func buildkitVersion(ctx context.Context, cfg *meta.Config) componentVersion {
	var v componentVersion
	cctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	d, err := build.Connect(cctx, cfg.BuildkitAddresses())
	if err != nil {
		v.Address = strings.Join(cfg.BuildkitAddresses(), ", ")
		v.Error = "not reachable: " + oneLine(err)
		var ue *build.UnreachableError
		if errors.As(err, &ue) {
			var tried []string
			for _, t := range ue.Tried {
				tried = append(tried, fmt.Sprintf("%s: %v", t.Address, t.Err))
			}
			v.Error = "not reachable at " + strings.Join(tried, "; ")
		}
		return v
	}
	defer d.Close()
	v.Version, v.Address = d.Version, d.Address
	return v
}

// firstLine is s up to its first newline.
func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
