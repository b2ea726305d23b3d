package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/ops"
	"github.com/opencode-cloud/occ/pkg/runtime"
)

func TestImageSrc(t *testing.T) {
	d := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		p    meta.Provenance
		want string
	}{
		{meta.Provenance{Source: "prebuilt", Registry: "ghcr.io", ManifestDigest: d}, "prebuilt from ghcr.io (sha256:0123456789ab)"},
		{meta.Provenance{Source: "prebuilt", Registry: "docker.io"}, "prebuilt from docker.io"},
		{meta.Provenance{Source: "prebuilt"}, "prebuilt"},
		{meta.Provenance{Source: "build", Build: &meta.BuildInfo{BuildkitVersion: "v0.34.2"}}, "built from source (BuildKit v0.34.2, cached)"},
		{meta.Provenance{Source: "build", Build: &meta.BuildInfo{BuildkitVersion: "v0.34.2", NoCache: true}}, "built from source (BuildKit v0.34.2, full)"},
		{meta.Provenance{Source: "build"}, "built from source (BuildKit, cached)"},
	}
	for _, tt := range tests {
		if got := imageSrc(ops.SourceFromProvenance(tt.p)); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestFormatUptime(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {45 * time.Second, "45s"}, {5*time.Minute + 3*time.Second, "5m 3s"}, {5 * time.Minute, "5m"},
		{2*time.Hour + 5*time.Minute + 59*time.Second, "2h 5m"}, {2 * time.Hour, "2h"},
		{3*24*time.Hour + 4*time.Hour + 30*time.Minute, "3d 4h"}, {-time.Second, "0s"},
	}
	for _, tt := range tests {
		if got := formatUptime(tt.d); got != tt.want {
			t.Errorf("%v: got %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.00 KiB", 1536 << 20: "1.50 GiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("%d: got %q, want %q", n, got, want)
		}
	}
}

func TestStatusRender(t *testing.T) {
	started := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	yes, no := true, false
	base := func() *ops.StatusReport {
		return &ops.StatusReport{
			State: "running", Installed: &yes, BootMode: "user", Config: "/c/config.json",
			URL: "http://127.0.0.1:3000/", Health: "Healthy", StartedAt: &started, UptimeSecs: 7500,
			Port: 3000, Network: "cni", Container: "opencode-cloud-sandbox", Pid: 42,
			Image: meta.CurrentImageName, ImageDigest: "sha256:abc", CLIVersion: "1.2.3", ImageVersion: "1.2.3", VersionMatch: &yes,
			Source: &ops.SourceFacts{Source: "prebuilt", Registry: "ghcr.io", ManifestDigest: "sha256:0123456789abcdef", AcquiredAt: &started},
			Disk: &ops.DiskFacts{ImagesBytes: 1 << 30, VolumesBytes: 2048, TotalBytes: 1<<30 + 2048,
				Host: &ops.HostDisk{Path: "/var", TotalBytes: 100 << 30, AvailableBytes: 40 << 30, UsedBytes: 60 << 30}},
			Mounts: &ops.MountFacts{InForce: true,
				Volumes: []ops.MountEntry{{Host: "/d/volumes/opencode-users", Container: "/var/lib/opencode-users", Origin: "volume"}},
				Binds:   []ops.MountEntry{{Host: "/srv/x", Container: "/mnt/x", ReadOnly: true, Origin: "cli"}}},
			Security: ops.SecurityFacts{Binding: "127.0.0.1", Users: []string{"alice", "bob"}, RateLimitAttempts: 5, RateLimitWindowSecs: 60},
		}
	}
	tests := []struct {
		name   string
		mutate func(r *ops.StatusReport)
		want   []string
		absent []string
	}{
		{"running", nil, []string{
			"State:          running\n", "Installed:      yes (starts on login)\n", "Config:         /c/config.json\n",
			"\nOpenCode\n--------\n", "URL:            http://127.0.0.1:3000/\n", "Health:         Healthy\n",
			"Uptime:         2h 5m (since 2026-11-27 20:00:00 UTC)\n", "Port:           3000 -> container:3000\n",
			"Container:      opencode-cloud-sandbox (pid 42)\n", "Digest:         sha256:abc\n", "CLI:            v1.2.3\n",
			"Image ver:      v1.2.3\n", "Image src:      prebuilt from ghcr.io (sha256:0123456789ab)\n",
			"Acquired:       2026-11-27 20:00:00 UTC\n", "  Images:      1.00 GiB\n", "  Volumes:     2.00 KiB\n",
			"  Total:       1.00 GiB\n", "Host disk (/var):\n  Total:       100.00 GiB\n  Available:   40.00 GiB\n  Used:        60.00 GiB\n",
			"\nMounts\n------\n  Volumes:\n    /d/volumes/opencode-users -> /var/lib/opencode-users rw (volume)\n",
			"  Bind mounts:\n    /srv/x -> /mnt/x ro (cli)\n",
			"Binding:        127.0.0.1 [LOCAL ONLY]\n", "Auth users:     alice, bob\n", "Trust proxy:    no\n",
			"Rate limit:     5 attempts / 60s window\n",
		}, []string{"Run 'occ start'", "Warning", "differs"}},
		{"mismatch and exposed without users", func(r *ops.StatusReport) {
			r.ImageVersion, r.VersionMatch = "1.2.0", &no
			r.Security.Binding, r.Security.Exposed, r.Security.Users = "0.0.0.0", true, nil
			r.Installed = &no
			r.Network = "host"
		}, []string{
			"Image ver:      v1.2.0 (differs from CLI)\n", "Binding:        0.0.0.0 [NETWORK EXPOSED]\n",
			"Auth users:     None configured\n", "Warning: Network exposed without authentication!\nAdd users: occ user add\n",
			"Installed:      no\n", "Port:           3000 (host network)\n",
		}, nil},
		{"exposed, unauthenticated allowed", func(r *ops.StatusReport) {
			r.Security.Binding, r.Security.Exposed, r.Security.Users, r.Security.AllowUnauthenticated = "::", true, nil, true
		}, []string{"[NETWORK EXPOSED]"}, []string{"Warning"}},
		{"stopped", func(r *ops.StatusReport) {
			r.State, r.StartedAt, r.URL = "stopped", nil, ""
			r.LastRun = &started
			r.Installed = nil
		}, []string{"State:          stopped\n", "Last run:       2026-11-27 20:00:00 UTC\n\nRun 'occ start' to start the service.\n"},
			[]string{"OpenCode", "Health:", "Installed:"}},
		{"signature verified", func(r *ops.StatusReport) {
			r.Source.Verification = &meta.Verification{Policy: "require", Verified: true, Method: meta.VerifyKeyless,
				Identity: "https://github.com/opencode-cloud/occ/.github/workflows/release.yml@refs/tags/v1.2.3",
				Issuer:   "https://token.actions.githubusercontent.com", SignedAt: started, BundleDigest: "sha256:fedcba9876543210"}
		}, []string{"Signature:      verified: https://github.com/opencode-cloud/occ/.github/workflows/release.yml@refs/tags/v1.2.3 " +
			"(issuer https://token.actions.githubusercontent.com), signed 2026-11-27T20:00:00Z, bundle sha256:fedcba987654\n"}, nil},
		{"signature not verified under warn", func(r *ops.StatusReport) {
			r.Source.Verification = &meta.Verification{Policy: "warn", Problem: "x has no signature"}
		}, []string{"Signature:      NOT verified (image_verify warn): x has no signature\n"}, nil},
		{"mounts differ from the config", func(r *ops.StatusReport) { r.Mounts.DiffersFromConfig = true },
			[]string{"The container's mounts differ from the config: run `occ restart` to apply mount changes.\n"}, nil},
		{"signature not checked", nil, []string{"Signature:      not checked"}, nil},
		{"opencode version and commit", func(r *ops.StatusReport) {
			r.OpencodeVersion, r.SandboxRevision = "1.18.33", "0123456789abcdef0123456789abcdef01234567"
		}, []string{"Health:         Healthy\nVersion:        1.18.33\nCommit:         0123456 (sandbox image source)\n"}, nil},
		{"opencode version, no revision label", func(r *ops.StatusReport) {
			r.OpencodeVersion = "1.18.33"
		}, []string{"Version:        1.18.33\n"}, []string{"Commit:"}},
		{"stopped: no opencode section", func(r *ops.StatusReport) {
			r.State, r.OpencodeVersion = "stopped", "1.18.33"
		}, nil, []string{"Version:"}},
		{"not an occ sandbox", func(r *ops.StatusReport) {
			r.ImageVersion, r.VersionMatch, r.NotSandbox = "", nil, true
		}, []string{"Image ver:      none: not an occ sandbox image (no org.opencode-cloud.version label)",
			"occ config set image_repositories ghcr.io/opencode-cloud/occ-sandbox,docker.io/opencodecloud/occ-sandbox"}, nil},
		{"built", func(r *ops.StatusReport) {
			r.Source = &ops.SourceFacts{Source: "build", BuildkitVersion: "v0.34.2", NoCache: true}
			r.ImageVersion = ""
		}, []string{"Image src:      built from source (BuildKit v0.34.2, full)\n"}, []string{"Image ver:", "Acquired:", "Signature:"}},
		{"isolation in force", func(r *ops.StatusReport) {
			r.Security.Isolation = &runtime.Isolation{Seccomp: true, UserNS: true, UserNSBase: 1000000000, Rootfs: "idmapped",
				PidsLimit: 4096, MemoryBytes: 18 << 30, CPUs: 1.5}
		}, []string{
			"Seccomp:        containerd default profile\n", "AppArmor:       not available (the host has no AppArmor)\n",
			"User ns:        on: ids 0-65535 are host 1000000000-1000065535 (rootfs idmapped; volumes owned in range)\n",
			"Pids:           4096\n", "Memory:         18 GiB\n", "CPUs:           1.5\n",
		}, []string{"(configured)"}},
		{"isolation off, configured only", func(r *ops.StatusReport) {
			r.Security.Isolation = &runtime.Isolation{AppArmorHost: true}
			r.Security.IsolationConfigured = true
		}, []string{
			"Seccomp:        off (configured)\n", "AppArmor:       off (configured)\n",
			"User ns:        off: the sandbox's ids are the host's (configured)\n", "Pids:           none (configured)\n",
		}, nil},
		{"missing", func(r *ops.StatusReport) { r.State = "missing" },
			[]string{"No service found.\n\nRun 'occ start' to start the service.\n"}, []string{"State:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			if tt.mutate != nil {
				tt.mutate(r)
			}
			var b bytes.Buffer
			statusView{r}.render(&b, NewUI(io.Discard, io.Discard, false, 0, false, false))
			out := b.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(out, a) {
					t.Errorf("unexpected %q in:\n%s", a, out)
				}
			}
		})
	}
}

func TestParseTail(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"50", 50, false}, {"all", 0, false}, {"ALL", 0, false}, {"1", 1, false},
		{"0", 0, true}, {"-3", 0, true}, {"ten", 0, true}, {"", 0, true},
	}
	for _, tt := range tests {
		got, err := parseTail(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%q: got %d, %v", tt.in, got, err)
		}
	}
}

func TestLineWriter(t *testing.T) {
	tests := []struct {
		name   string
		grep   string
		writes []string
		want   string
	}{
		{"passes lines", "", []string{"a\nb", "c\n", "tail"}, "a\nbc\ntail"},
		{"grep across writes", "needle", []string{"hay\nsome nee", "dle here\nmore hay\n", "needle at end"}, "some needle here\nneedle at end"},
		{"grep drops all", "x", []string{"a\nb\n"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			lw := &lineWriter{w: &b, grep: tt.grep}
			for _, w := range tt.writes {
				if _, err := lw.Write([]byte(w)); err != nil {
					t.Fatal(err)
				}
			}
			lw.Flush()
			if b.String() != tt.want {
				t.Errorf("got %q, want %q", b.String(), tt.want)
			}
		})
	}
}
