package ops

import (
	"context"
	"io/fs"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// StatusReport is every fact `occ status` shows; --json prints it as is
// (docs/json.md).
type StatusReport struct {
	State     string `json:"state"` // running, stopped, created, paused, missing, unknown
	Installed *bool  `json:"installed,omitempty"`
	BootMode  string `json:"boot_mode,omitempty"`
	Config    string `json:"config"`

	URL        string     `json:"url,omitempty"`
	Health     string     `json:"health,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	UptimeSecs int64      `json:"uptime_seconds,omitempty"`
	Published  string     `json:"published,omitempty"` // host:port
	Port       int        `json:"port,omitempty"`
	Network    string     `json:"network_mode,omitempty"`
	LastRun    *time.Time `json:"last_run,omitempty"`
	ExitCode   *uint32    `json:"exit_code,omitempty"`

	Container string `json:"container,omitempty"`
	// Instance is the sandbox instance (--sandbox-instance); omitted for
	// the default one.
	Instance     string `json:"instance,omitempty"`
	Pid          uint32 `json:"pid,omitempty"`
	Image        string `json:"image,omitempty"`
	ImageDigest  string `json:"image_digest,omitempty"`
	CLIVersion   string `json:"cli_version"`
	ImageVersion string `json:"image_version,omitempty"`
	VersionMatch *bool  `json:"version_match,omitempty"`
	// NotSandbox: the image carries no org.opencode-cloud.version label, so
	// it is not an occ sandbox (no gateway, no opencode-cloud-users).
	NotSandbox bool `json:"not_occ_sandbox,omitempty"`
	// OpencodeVersion is the opencode release in the image, and
	// SandboxRevision the source revision the image was built from (its
	// labels; opencode comes from the npm registry, which records no
	// commit of its own).
	OpencodeVersion string       `json:"opencode_version,omitempty"`
	SandboxRevision string       `json:"sandbox_revision,omitempty"`
	Source          *SourceFacts `json:"source,omitempty"`

	Disk *DiskFacts `json:"disk,omitempty"`
	// Mounts are the container's volumes and bind mounts (those it was
	// created with; the configured ones while there is no container).
	Mounts   *MountFacts   `json:"mounts,omitempty"`
	Security SecurityFacts `json:"security"`
}

// SourceFacts is the image's provenance, as status shows it.
type SourceFacts struct {
	Source          string     `json:"source"` // prebuilt | build
	Registry        string     `json:"registry,omitempty"`
	Reference       string     `json:"reference,omitempty"`
	ManifestDigest  string     `json:"manifest_digest,omitempty"`
	BuildkitVersion string     `json:"buildkit_version,omitempty"`
	NoCache         bool       `json:"no_cache,omitempty"`
	AcquiredAt      *time.Time `json:"acquired_at,omitempty"`
	// Verification is the signature check done before the image was
	// recorded (nil: not checked).
	Verification *meta.Verification `json:"verification,omitempty"`
}

// SecurityFacts are the settings that decide who can reach the sandbox.
type SecurityFacts struct {
	Binding              string   `json:"binding"`
	Exposed              bool     `json:"exposed"`
	Users                []string `json:"users"`
	AllowUnauthenticated bool     `json:"allow_unauthenticated_network"`
	TrustProxy           bool     `json:"trust_proxy"`
	RateLimitAttempts    int      `json:"rate_limit_attempts"`
	RateLimitWindowSecs  int      `json:"rate_limit_window_seconds"`
	// Isolation is what the container runs with (its spec), or what the
	// config asks for while there is none (IsolationConfigured).
	Isolation           *runtime.Isolation `json:"isolation,omitempty"`
	IsolationConfigured bool               `json:"isolation_configured_only,omitempty"`
}

// SourceFromProvenance condenses a provenance record.
func SourceFromProvenance(p meta.Provenance) *SourceFacts {
	s := &SourceFacts{Source: p.Source, Registry: p.Registry, Reference: p.Reference, ManifestDigest: p.ManifestDigest, Verification: p.Verification}
	if !p.AcquiredAt.IsZero() {
		t := p.AcquiredAt.UTC()
		s.AcquiredAt = &t
	}
	if p.Build != nil {
		s.BuildkitVersion = p.Build.BuildkitVersion
		s.NoCache = p.Build.NoCache
	}
	return s
}

// StatusOptions are `occ status`'s.
type StatusOptions struct {
	// StateOnly reads the state and nothing more (status -q).
	StateOnly bool
	// Installed says whether the systemd unit for a boot mode is installed
	// (nil: not asked).
	Installed func(bootMode string) (bool, error)
}

// Status gathers the sandbox's facts. Parts that cannot be read are left
// out (and said with -v) rather than failing the whole status.
func (e *Env) Status(ctx context.Context, o StatusOptions) (*StatusReport, error) {
	s, err := e.Open(ctx, OpenOptions{})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if o.StateOnly {
		return &StatusReport{State: string(s.State.State)}, nil
	}
	r := e.baseStatus(ctx, s, o)
	r.Mounts = e.mountFacts(ctx, s)
	st := s.State
	if st.State == runtime.StateMissing {
		return r, nil
	}
	// The health probe and the disk walks run beside the containerd reads.
	var (
		wg     sync.WaitGroup
		health string
		disk   DiskFacts
	)
	wg.Go(func() {
		var err error
		if disk, err = MeasureDisk(ctx, s.Client, s.Sandbox, e.Paths); err != nil {
			e.Report.Verbosef("disk usage: %v", err)
		}
	})
	if isRunning(st) {
		wg.Go(func() { health = s.Sandbox.HealthOf(ctx, st).String() })
	}
	e.imageFacts(ctx, s.Client, r)
	wg.Wait()
	r.Disk = &disk
	if health != "" {
		r.Health = health
	}
	return r, nil
}

// baseStatus is what the config and the container's state say.
func (e *Env) baseStatus(ctx context.Context, s *Session, o StatusOptions) *StatusReport {
	cfg, st := s.Config, s.State
	r := &StatusReport{
		State: string(st.State), BootMode: cfg.BootMode, Config: e.Paths.ConfigFile,
		Container: s.Sandbox.Name(), Instance: e.Paths.Instance, Pid: st.Pid, Image: st.Image, ImageDigest: st.ImageDigest,
		CLIVersion: meta.Version, Published: st.Published, Network: st.NetworkMode,
		Security: SecurityFacts{
			Binding: cfg.BindAddress, Exposed: meta.IsExposed(cfg.BindAddress), Users: append([]string{}, cfg.Users...),
			AllowUnauthenticated: cfg.AllowUnauthenticatedNetwork, TrustProxy: cfg.TrustProxy,
			RateLimitAttempts: cfg.RateLimitAttempts, RateLimitWindowSecs: cfg.RateLimitWindowSeconds,
		},
	}
	e.isolationFacts(ctx, s, r)
	if o.Installed != nil {
		if installed, err := o.Installed(cfg.BootMode); err == nil {
			r.Installed = &installed
		}
	}
	if st.Published != "" {
		if host, p, err := splitHostPort(st.Published); err == nil {
			r.Port = p
			r.Security.Binding = host
			r.Security.Exposed = meta.IsExposed(host)
		}
	}
	if r.Image == "" {
		r.Image = e.Paths.Images().Current
	}
	if isRunning(st) {
		r.URL = st.URL()
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
	return r
}

// isolationFacts is the isolation in force, or what the config asks for.
func (e *Env) isolationFacts(ctx context.Context, s *Session, r *StatusReport) {
	if s.State.State != runtime.StateMissing {
		if iso, err := s.Sandbox.IsolationInForce(ctx); err == nil {
			r.Security.Isolation = &iso
		} else {
			e.Report.Verbosef("isolation: %v", err)
		}
	}
	if r.Security.Isolation == nil {
		if iso, err := runtime.ResolveIsolation(s.Config); err == nil {
			r.Security.Isolation, r.Security.IsolationConfigured = &iso, true
		}
	}
}

// imageFacts reads the image record, its config and its provenance: the
// record's labels are the authority; the state file fills in when the
// record carries none.
func (e *Env) imageFacts(ctx context.Context, rt *runtime.Client, r *StatusReport) {
	var prov *meta.Provenance
	is := rt.ImageStore()
	if img, err := is.Image(ctx, r.Image); err == nil {
		if r.ImageDigest == "" {
			r.ImageDigest = img.Target.Digest.String()
		}
		if p, ok := meta.ProvenanceFromLabels(img.Labels); ok {
			prov = &p
		}
		if ic, err := is.ImageConfig(ctx, img.Target); err == nil {
			r.ImageVersion = ic.Config.Labels[meta.ImageVersionLabel]
			r.NotSandbox = r.ImageVersion == ""
			r.OpencodeVersion = ic.Config.Labels[meta.OpencodeVersionLabel]
			r.SandboxRevision = ic.Config.Labels[meta.ImageRevisionLabel]
		}
	} else {
		e.Report.Verbosef("image record %s: %v", r.Image, err)
	}
	prov = e.mergeStateProvenance(prov, r.ImageDigest)
	if prov != nil {
		r.Source = SourceFromProvenance(*prov)
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
}

// mergeStateProvenance fills in from the image state file: all of it when
// the record has no provenance (and the state is about this image), the
// acquisition time when the record lacks it.
func (e *Env) mergeStateProvenance(prov *meta.Provenance, imageDigest string) *meta.Provenance {
	state, err := meta.LoadState(e.Paths.StateFile())
	if err != nil {
		e.Report.Verbosef("%v", err)
		return prov
	}
	if state == nil {
		return prov
	}
	if prov == nil && (state.ManifestDigest == "" || state.ManifestDigest == imageDigest) {
		p := state.Provenance
		return &p
	}
	if prov != nil && prov.AcquiredAt.IsZero() && state.ManifestDigest == prov.ManifestDigest {
		prov.AcquiredAt = state.AcquiredAt
	}
	return prov
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

func splitHostPort(a string) (string, int, error) {
	host, p, err := net.SplitHostPort(a)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, errdefs.ErrInvalidArgument.WithMessage("bad port in " + a)
	}
	return host, n, nil
}

// Running is whether the sandbox's task runs (or is paused), read without
// occ's lock: for the hints of commands that do not need the sandbox
// (config set, bare occ). An unreachable containerd is an error.
func (e *Env) Running(ctx context.Context) (bool, error) {
	s, err := e.Open(ctx, OpenOptions{})
	if err != nil {
		return false, err
	}
	defer s.Close()
	return s.Running(), nil
}

// PublishesPort is whether the running sandbox publishes port on host (an
// address as a port check tests it): a port found busy that is the
// sandbox's own is no conflict. Read without occ's lock, like Running.
func (e *Env) PublishesPort(ctx context.Context, host string, port int) (bool, error) {
	s, err := e.Open(ctx, OpenOptions{})
	if err != nil {
		return false, err
	}
	defer s.Close()
	return s.Running() && publishes(s.State.Published, host, port), nil
}

// publishes is whether a container's published address (its
// host:port label) is port on host; the hosts are compared as addresses
// (localhost is 127.0.0.1).
func publishes(published, host string, port int) bool {
	h, p, err := splitHostPort(published)
	if err != nil || p != port {
		return false
	}
	a, err := meta.ParseBindAddress(h)
	if err != nil {
		return false
	}
	b, err := meta.ParseBindAddress(host)
	return err == nil && a.Equal(b)
}
