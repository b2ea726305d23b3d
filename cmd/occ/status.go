package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// StatusCmd shows the sandbox's state, address, health, image and its
// provenance, and the security settings. With -q it prints nothing: the
// exit code is 0 when the service runs, 3 when it does not, 4 when containerd
// cannot be reached.
type StatusCmd struct {
	JSON bool `name:"json" help:"Print the facts as JSON."`
}

func (c *StatusCmd) Run(ctx context.Context, app *App) error {
	cfg, _, err := app.LoadConfig()
	if err != nil {
		return err
	}
	rt, sb, err := app.openSandbox(ctx, cfg)
	if err != nil {
		return err
	}
	defer rt.Close()
	st, err := sb.Status(ctx)
	if err != nil {
		return err
	}
	if app.Globals.Quiet && !c.JSON {
		if st.State == runtime.StateRunning {
			return nil
		}
		return silentExit{code: exitNotRunning}
	}
	r := collectStatus(ctx, app, cfg, rt, sb, st)
	if c.JSON {
		enc := json.NewEncoder(app.UI.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		r.render(app.UI.Out, app.UI)
	}
	return nil
}

// collectStatus gathers the facts. Parts that cannot be read are left out
// (and said with -v) rather than failing the whole status.
func collectStatus(ctx context.Context, app *App, cfg *meta.Config, rt *runtime.Client, sb *runtime.Sandbox, st runtime.Status) *statusReport {
	r := &statusReport{
		State:      string(st.State),
		BootMode:   cfg.BootMode,
		Config:     app.Paths.ConfigFile,
		Container:  sb.Name(),
		Pid:        st.Pid,
		Image:      st.Image,
		CLIVersion: meta.Version,
		Published:  st.Published,
		Network:    st.NetworkMode,
		Security: securityFacts{
			Binding:              cfg.BindAddress,
			Exposed:              meta.IsExposed(cfg.BindAddress),
			Users:                append([]string{}, cfg.Users...),
			AllowUnauthenticated: cfg.AllowUnauthenticatedNetwork,
			TrustProxy:           cfg.TrustProxy,
			RateLimitAttempts:    cfg.RateLimitAttempts,
			RateLimitWindowSecs:  cfg.RateLimitWindowSeconds,
		},
	}
	if st.State != runtime.StateMissing {
		if iso, err := sb.IsolationInForce(ctx); err == nil {
			r.Security.Isolation = &iso
		} else {
			app.UI.Verbosef("isolation: %v", err)
		}
	}
	if r.Security.Isolation == nil {
		if iso, err := runtime.ResolveIsolation(cfg); err == nil {
			r.Security.Isolation, r.Security.IsolationConfigured = &iso, true
		}
	}
	if installed, err := newInstaller().Installed(cfg.BootMode); err == nil {
		r.Installed = &installed
	}
	if st.Published != "" {
		if host, p, err := splitHostPortStr(st.Published); err == nil {
			r.Port = p
			r.Security.Binding = host
			r.Security.Exposed = meta.IsExposed(host)
		}
	}
	if r.Image == "" {
		r.Image = meta.CurrentImageName
	}
	r.ImageDigest = st.ImageDigest
	// The health probe and the disk walks run beside the containerd reads.
	var (
		wg               sync.WaitGroup
		health           string
		volumes, logsDir int64
	)
	if st.State != runtime.StateMissing { // (a missing container returns early, below, with nothing started)
		wg.Go(func() { volumes = diskUsage(app.Paths.VolumesDir()) })
		wg.Go(func() { logsDir = diskUsage(app.Paths.LogsDir()) })
	}
	if st.State == runtime.StateRunning || st.State == runtime.StatePaused {
		r.URL = st.URL()
		wg.Go(func() { health = sb.HealthOf(ctx, st).String() })
		if !st.StartedAt.IsZero() {
			t := st.StartedAt.UTC()
			r.StartedAt = &t
			r.UptimeSecs = int64(st.Uptime / time.Second)
		}
	} else {
		r.ExitCode = st.ExitCode
		if !st.ExitedAt.IsZero() {
			t := st.ExitedAt.UTC()
			r.LastRun = &t
		}
	}
	if st.State == runtime.StateMissing {
		return r
	}

	// Provenance: the image record's labels are the authority; the state
	// file fills in when the record carries none.
	nctx := rt.WithNamespace(ctx)
	var prov *meta.Provenance
	if img, err := rt.ImageService().Get(nctx, r.Image); err == nil {
		if r.ImageDigest == "" {
			r.ImageDigest = img.Target.Digest.String()
		}
		if p, ok := meta.ProvenanceFromLabels(img.Labels); ok {
			prov = &p
		}
		if ic, err := rt.ImageStore().ImageConfig(ctx, img.Target); err == nil {
			r.ImageVersion = ic.Config.Labels[meta.ImageVersionLabel]
			r.NotSandbox = r.ImageVersion == ""
		}
		if size, err := rt.ImageSize(nctx, img); err == nil {
			r.Disk = &diskFacts{ImagesBytes: size}
		}
	} else {
		app.UI.Verbosef("image record %s: %v", r.Image, err)
	}
	if state, err := meta.LoadState(app.Paths.StateFile()); err == nil && state != nil {
		if prov == nil && (state.ManifestDigest == "" || state.ManifestDigest == r.ImageDigest) {
			p := state.Provenance
			prov = &p
		} else if prov != nil && prov.AcquiredAt.IsZero() && state.ManifestDigest == prov.ManifestDigest {
			prov.AcquiredAt = state.AcquiredAt
		}
	} else if err != nil {
		app.UI.Verbosef("%v", err)
	}
	if prov != nil {
		r.Source = sourceFromProvenance(*prov)
		if r.ImageVersion == "" {
			r.ImageVersion = prov.ImageVersion
		}
	}
	if r.ImageVersion == "dev" {
		r.ImageVersion = ""
	}
	if r.ImageVersion != "" {
		m := meta.VersionsMatch(meta.Version, r.ImageVersion)
		r.VersionMatch = &m
	}
	if r.Disk == nil {
		r.Disk = &diskFacts{}
	}
	wg.Wait()
	r.Disk.VolumesBytes, r.Disk.LogsBytes = volumes, logsDir
	if health != "" {
		r.Health = health
	}
	return r
}

// diskUsage sums the allocated size of the files under dir (like du).
func diskUsage(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if sys, ok := info.Sys().(*syscall.Stat_t); ok {
			total += sys.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	return total
}

func splitHostPortStr(a string) (string, int, error) {
	host, p, err := splitHostPort(a)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, errdefs.ErrInvalidArgument.WithMessage("bad port in " + a)
	}
	return host, n, nil
}
