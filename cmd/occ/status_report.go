package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

// statusReport is every fact `occ status` shows; --json prints it as is.
type statusReport struct {
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

	Container    string `json:"container,omitempty"`
	Pid          uint32 `json:"pid,omitempty"`
	Image        string `json:"image,omitempty"`
	ImageDigest  string `json:"image_digest,omitempty"`
	CLIVersion   string `json:"cli_version"`
	ImageVersion string `json:"image_version,omitempty"`
	VersionMatch *bool  `json:"version_match,omitempty"`
	// NotSandbox: the image carries no org.opencode-cloud.version label, so
	// it is not an occ sandbox (no gateway, no opencode-cloud-users).
	NotSandbox bool         `json:"not_occ_sandbox,omitempty"`
	Source     *sourceFacts `json:"source,omitempty"`

	Disk     *diskFacts    `json:"disk,omitempty"`
	Security securityFacts `json:"security"`
}

// sourceFacts is the image's provenance, as status shows it.
type sourceFacts struct {
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

type diskFacts struct {
	ImagesBytes  int64 `json:"images_bytes"`
	VolumesBytes int64 `json:"volumes_bytes"`
	LogsBytes    int64 `json:"logs_bytes"`
}

type securityFacts struct {
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

// sourceFromProvenance condenses a provenance record.
func sourceFromProvenance(p meta.Provenance) *sourceFacts {
	s := &sourceFacts{Source: p.Source, Registry: p.Registry, Reference: p.Reference, ManifestDigest: p.ManifestDigest, Verification: p.Verification}
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

// imageSrc is the "Image src:" value: "prebuilt from ghcr.io (sha256:…)"
// or "built from source (BuildKit v0.34.2, cached|full)".
func (s *sourceFacts) imageSrc() string {
	switch s.Source {
	case meta.SourceBuild:
		kind := "cached"
		if s.NoCache {
			kind = "full"
		}
		bk := "BuildKit"
		if s.BuildkitVersion != "" {
			bk += " " + s.BuildkitVersion
		}
		return fmt.Sprintf("built from source (%s, %s)", bk, kind)
	case meta.SourcePrebuilt:
		out := "prebuilt"
		if s.Registry != "" {
			out += " from " + s.Registry
		}
		if d := shortDigest(digest.Digest(s.ManifestDigest)); d != "" {
			out += " (" + d + ")"
		}
		return out
	}
	return s.Source
}

// signature is the "Signature:" value of a pulled image.
func (s *sourceFacts) signature(ui *UI) string {
	v := s.Verification
	switch {
	case v == nil:
		return "not checked (image_verify off, or pulled before occ verified signatures)"
	case v.Verified:
		return ui.Green("verified") + ": " + describeVerification(v)
	}
	return ui.Yellow("NOT verified") + " (image_verify " + v.Policy + "): " + v.Problem
}

// formatUptime is upstream's: 45s, 5m 3s, 2h 5m, 3d 4h (zero tails dropped).
func formatUptime(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 0 {
		s = 0
	}
	two := func(a int64, au string, b int64, bu string) string {
		if b == 0 {
			return fmt.Sprintf("%d%s", a, au)
		}
		return fmt.Sprintf("%d%s %d%s", a, au, b, bu)
	}
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return two(s/60, "m", s%60, "s")
	case s < 86400:
		return two(s/3600, "h", (s%3600)/60, "m")
	default:
		return two(s/86400, "d", (s%86400)/3600, "h")
	}
}

// formatBytes prints a size with binary units (1.5 GiB).
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.2f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func utc(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// render writes the human layout: labels padded to 15 characters plus one
// space, sections with underlines (upstream §5.1, for what occ has).
func (r *statusReport) render(w io.Writer, ui *UI) {
	line := func(label, value string) { fmt.Fprintf(w, "%-15s %s\n", label+":", value) }
	section := func(title string) { fmt.Fprintf(w, "\n%s\n%s\n", title, strings.Repeat("-", len(title))) }

	if r.State == "missing" {
		fmt.Fprintf(w, "No service found.\n\nRun 'occ start' to start the service.\n")
		return
	}
	line("State", r.stateColored(ui))
	if r.Installed != nil {
		v := "no"
		if *r.Installed {
			v = "yes (starts on login)"
			if r.BootMode == "system" {
				v = "yes (starts on boot)"
			}
		}
		line("Installed", v)
	}
	line("Config", r.Config)

	if r.State == "running" || r.State == "paused" {
		section("OpenCode")
		line("URL", r.URL)
		line("Health", r.Health)
		if r.StartedAt != nil {
			line("Uptime", fmt.Sprintf("%s (since %s)", formatUptime(time.Duration(r.UptimeSecs)*time.Second), utc(*r.StartedAt)))
		}
		if r.Port > 0 {
			if r.Network == meta.NetworkHost {
				line("Port", fmt.Sprintf("%d (host network)", r.Port))
			} else {
				line("Port", fmt.Sprintf("%d -> container:3000", r.Port))
			}
		}
	}

	section("Sandbox")
	c := r.Container
	if r.Pid > 0 {
		c += fmt.Sprintf(" (pid %d)", r.Pid)
	}
	line("Container", c)
	line("Image", r.Image)
	if r.ImageDigest != "" {
		line("Digest", r.ImageDigest)
	}
	line("CLI", "v"+strings.TrimPrefix(r.CLIVersion, "v"))
	if r.ImageVersion != "" {
		v := "v" + strings.TrimPrefix(r.ImageVersion, "v")
		if r.VersionMatch != nil && !*r.VersionMatch {
			v += " " + ui.Yellow("(differs from CLI)")
		}
		line("Image ver", v)
	}
	if r.NotSandbox {
		line("Image ver", ui.Yellow("none: not an occ sandbox image (no "+meta.ImageVersionLabel+" label); occ user and the login gateway need one. "+
			"Use occ's own: occ config set image_repositories "+strings.Join(meta.DefaultImageRepositories, ",")))
	}
	if r.Source != nil {
		line("Image src", r.Source.imageSrc())
		if r.Source.AcquiredAt != nil {
			line("Acquired", utc(*r.Source.AcquiredAt))
		}
		if r.Source.Source == meta.SourcePrebuilt {
			line("Signature", r.Source.signature(ui))
		}
	}

	if r.Disk != nil {
		section("Disk")
		line("Images", formatBytes(r.Disk.ImagesBytes))
		line("Volumes", formatBytes(r.Disk.VolumesBytes))
		line("Logs", formatBytes(r.Disk.LogsBytes))
	}

	section("Security")
	s := r.Security
	binding := s.Binding + " " + ui.Green("[LOCAL ONLY]")
	if s.Exposed {
		binding = s.Binding + " " + ui.Yellow("[NETWORK EXPOSED]")
	}
	line("Binding", binding)
	users := "None configured"
	if len(s.Users) > 0 {
		users = strings.Join(s.Users, ", ")
	}
	line("Auth users", users)
	line("Trust proxy", yesNo(s.TrustProxy))
	line("Rate limit", fmt.Sprintf("%d attempts / %ds window", s.RateLimitAttempts, s.RateLimitWindowSecs))
	if s.Isolation != nil {
		for _, l := range s.Isolation.Describe() {
			v := l[1]
			if v == "off" || strings.HasPrefix(v, "off:") {
				v = ui.Yellow(v)
			}
			if s.IsolationConfigured {
				v += " (configured)"
			}
			line(l[0], v)
		}
	}
	if s.Exposed && len(s.Users) == 0 && !s.AllowUnauthenticated {
		fmt.Fprintf(w, "\n%s\nAdd users: occ user add\n", ui.Yellow("Warning: Network exposed without authentication!"))
	}

	if r.State != "running" && r.State != "paused" {
		fmt.Fprintln(w)
		if r.LastRun != nil {
			line("Last run", utc(*r.LastRun))
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Run 'occ start' to start the service.\n")
	}
}

func (r *statusReport) stateColored(ui *UI) string {
	switch r.State {
	case "running":
		return ui.Bold(ui.Green(r.State))
	case "stopped", "exited":
		return ui.red.Sprint(r.State)
	case "created", "paused":
		return ui.Yellow(r.State)
	}
	return ui.dim.Sprint(r.State)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
