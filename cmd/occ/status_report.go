package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/ops"
)

// statusView renders the facts of `occ status` (ops.StatusReport) for
// people; --json prints the report itself.
type statusView struct{ *ops.StatusReport }

// imageSrc is the "Image src:" value: "prebuilt from ghcr.io (sha256:…)"
// or "built from source (BuildKit v0.34.2, cached|full)".
func imageSrc(s *ops.SourceFacts) string {
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
func signature(s *ops.SourceFacts, ui *UI) string {
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

// statusWriter writes the human layout: labels padded to 15 characters
// plus one space, sections with underlines (upstream §5.1, for what occ
// has).
type statusWriter struct {
	w  io.Writer
	ui *UI
}

func (sw statusWriter) line(label, value string) { fmt.Fprintf(sw.w, "%-15s %s\n", label+":", value) }
func (sw statusWriter) section(title string) {
	fmt.Fprintf(sw.w, "\n%s\n%s\n", title, strings.Repeat("-", len(title)))
}

// render writes the report for people.
func (r statusView) render(w io.Writer, ui *UI) {
	sw := statusWriter{w, ui}
	if r.State == "missing" {
		fmt.Fprintf(w, "No service found.\n\nRun 'occ start' to start the service.\n")
		return
	}
	r.renderHeader(sw)
	if r.running() {
		r.renderOpenCode(sw)
	}
	r.renderSandbox(sw)
	if r.Disk != nil {
		r.renderDisk(sw)
	}
	if r.Mounts != nil {
		r.renderMounts(sw)
	}
	r.renderSecurity(sw)
	if !r.running() {
		fmt.Fprintln(w)
		if r.LastRun != nil {
			sw.line("Last run", utc(*r.LastRun))
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Run 'occ start' to start the service.\n")
	}
}

func (r statusView) running() bool { return r.State == "running" || r.State == "paused" }

func (r statusView) renderHeader(sw statusWriter) {
	sw.line("State", r.stateColored(sw.ui))
	if r.Installed != nil {
		v := "no"
		if *r.Installed {
			v = "yes (starts on login)"
			if r.BootMode == "system" {
				v = "yes (starts on boot)"
			}
		}
		sw.line("Installed", v)
	}
	sw.line("Config", r.Config)
}

func (r statusView) renderOpenCode(sw statusWriter) {
	sw.section("OpenCode")
	sw.line("URL", r.URL)
	sw.line("Health", r.Health)
	if r.OpencodeVersion != "" {
		sw.line("Version", r.OpencodeVersion)
	}
	if r.SandboxRevision != "" {
		sw.line("Commit", shortRevision(r.SandboxRevision)+" (sandbox image source)")
	}
	if r.StartedAt != nil {
		sw.line("Uptime", fmt.Sprintf("%s (since %s)", formatUptime(time.Duration(r.UptimeSecs)*time.Second), utc(*r.StartedAt)))
	}
	if r.Port > 0 {
		if r.Network == meta.NetworkHost {
			sw.line("Port", fmt.Sprintf("%d (host network)", r.Port))
		} else {
			sw.line("Port", fmt.Sprintf("%d -> container:3000", r.Port))
		}
	}
}

func (r statusView) renderSandbox(sw statusWriter) {
	ui := sw.ui
	sw.section("Sandbox")
	c := r.Container
	if r.Pid > 0 {
		c += fmt.Sprintf(" (pid %d)", r.Pid)
	}
	sw.line("Container", c)
	if r.Instance != "" {
		sw.line("Instance", r.Instance)
	}
	sw.line("Image", r.Image)
	if r.ImageDigest != "" {
		sw.line("Digest", r.ImageDigest)
	}
	sw.line("CLI", "v"+strings.TrimPrefix(r.CLIVersion, "v"))
	if r.ImageVersion != "" {
		v := "v" + strings.TrimPrefix(r.ImageVersion, "v")
		if r.VersionMatch != nil && !*r.VersionMatch {
			v += " " + ui.Yellow("(differs from CLI)")
		}
		sw.line("Image ver", v)
	}
	if r.NotSandbox {
		sw.line("Image ver", ui.Yellow("none: not an occ sandbox image (no "+meta.ImageVersionLabel+" label); occ user and the login gateway need one. "+
			"Use occ's own: occ config set image_repositories "+strings.Join(meta.DefaultImageRepositories, ",")))
	}
	if r.Source != nil {
		sw.line("Image src", imageSrc(r.Source))
		if r.Source.AcquiredAt != nil {
			sw.line("Acquired", utc(*r.Source.AcquiredAt))
		}
		if r.Source.Source == meta.SourcePrebuilt {
			sw.line("Signature", signature(r.Source, ui))
		}
	}
}

func (r statusView) renderDisk(sw statusWriter) {
	d := r.Disk
	sw.section("Disk")
	fmt.Fprintln(sw.w, "occ's disk usage (current):")
	item := func(label string, n int64) { fmt.Fprintf(sw.w, "  %-12s %s\n", label+":", formatBytes(n)) }
	item("Images", d.ImagesBytes)
	item("Snapshots", d.SnapshotsBytes)
	item("Volumes", d.VolumesBytes)
	item("Logs", d.LogsBytes)
	item("Total", d.TotalBytes)
	if d.Host != nil {
		fmt.Fprintf(sw.w, "\nHost disk (%s):\n", d.Host.Path)
		item("Total", d.Host.TotalBytes)
		item("Available", d.Host.AvailableBytes)
		item("Used", d.Host.UsedBytes)
	}
}

func (r statusView) renderMounts(sw statusWriter) {
	m := r.Mounts
	sw.section("Mounts")
	mode := func(ro bool) string {
		if ro {
			return "ro"
		}
		return "rw"
	}
	fmt.Fprintln(sw.w, "  Volumes:")
	for _, v := range m.Volumes {
		fmt.Fprintf(sw.w, "    %s -> %s %s (volume)\n", v.Host, v.Container, mode(v.ReadOnly))
	}
	if len(m.Binds) > 0 {
		fmt.Fprintln(sw.w, "  Bind mounts:")
		for _, b := range m.Binds {
			fmt.Fprintf(sw.w, "    %s -> %s %s (%s)\n", b.Host, b.Container, mode(b.ReadOnly), b.Origin)
		}
	}
	if m.DiffersFromConfig {
		fmt.Fprintf(sw.w, "  %s\n", sw.ui.Yellow("The container's mounts differ from the config: run `occ restart` to apply mount changes."))
	}
}

func (r statusView) renderSecurity(sw statusWriter) {
	ui := sw.ui
	sw.section("Security")
	s := r.Security
	binding := s.Binding + " " + ui.Green("[LOCAL ONLY]")
	if s.Exposed {
		binding = s.Binding + " " + ui.Yellow("[NETWORK EXPOSED]")
	}
	sw.line("Binding", binding)
	users := "None configured"
	if len(s.Users) > 0 {
		users = strings.Join(s.Users, ", ")
	}
	sw.line("Auth users", users)
	sw.line("Trust proxy", yesNo(s.TrustProxy))
	sw.line("Rate limit", fmt.Sprintf("%d attempts / %ds window", s.RateLimitAttempts, s.RateLimitWindowSecs))
	if s.Isolation != nil {
		for _, l := range s.Isolation.Describe() {
			v := l[1]
			if v == "off" || strings.HasPrefix(v, "off:") {
				v = ui.Yellow(v)
			}
			if s.IsolationConfigured {
				v += " (configured)"
			}
			sw.line(l[0], v)
		}
	}
	if s.Exposed && len(s.Users) == 0 && !s.AllowUnauthenticated {
		fmt.Fprintf(sw.w, "\n%s\nAdd users: occ user add\n", ui.Yellow("Warning: Network exposed without authentication!"))
	}
}

func (r statusView) stateColored(ui *UI) string {
	switch r.State {
	case "running":
		return ui.Bold(ui.Green(r.State))
	case "stopped", "exited":
		return ui.Red(r.State)
	case "created", "paused":
		return ui.Yellow(r.State)
	}
	return ui.Dim(r.State)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// shortRevision is a git commit as status shows it: 7 characters of a
// full hash, anything else as it is.
func shortRevision(rev string) string {
	if len(rev) == 40 && strings.Trim(rev, "0123456789abcdef") == "" {
		return rev[:7]
	}
	return rev
}
