package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/mod/semver"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/release"
)

// UpdateCLIOptions are `occ update cli`'s.
type UpdateCLIOptions struct {
	// Yes skips the questions (and restarts a running sandbox).
	Yes bool
	// Version is the release to install ("": the newest).
	Version string
	// From is the releases URL ("": release_url).
	From string
	// KeyFile is the public key releases must be signed with ("":
	// release_verify_key, else keyless: the release workflow).
	KeyFile string
	// Executable is the binary to replace ("": the running one).
	Executable string
	// Args go before `restart` when the new binary restarts the sandbox
	// (the invocation's global flags: config, daemons).
	Args []string
	// Stdout and Stderr are the new binary's when it restarts the sandbox.
	Stdout, Stderr io.Writer
	// NoRestart leaves a running sandbox alone (an update of the image
	// follows and recreates it).
	NoRestart bool
	// DpkgInfoDir is dpkg's database ("": release.DpkgInfoDir; tests).
	DpkgInfoDir string
}

// UpdateCLIResult is what `occ update cli` did.
type UpdateCLIResult struct {
	UpToDate bool   `json:"up_to_date"`
	From     string `json:"from"`
	To       string `json:"to"`
	Path     string `json:"path"`
	// Signer is who signed the release's checksums (verified).
	Signer string `json:"signer,omitempty"`
	// Restarted: the sandbox ran and the new occ restarted it.
	Restarted bool `json:"restarted"`
}

// CLIVersionCheck is the newest (or the given) release, verified, against
// this occ's version.
type CLIVersionCheck struct {
	Current, Available string
	fetched            *release.Fetched
	sums               map[string]string
	signer             string
}

// CheckCLI finds release o.Version (or the newest) and verifies its
// checksums' signature; nothing is downloaded beyond those two files.
func (e *Env) CheckCLI(ctx context.Context, o UpdateCLIOptions) (*CLIVersionCheck, error) {
	cfg, err := e.LoadConfig()
	if err != nil {
		return nil, err
	}
	src := release.Source{URL: cmp(o.From, cfg.ReleaseURL)}
	e.Report.Verbosef("Looking for occ release %s at %s", cmp(o.Version, "latest"), cmp(src.URL, release.DefaultURL))
	f, err := src.Fetch(ctx, o.Version)
	if err != nil {
		return nil, fmt.Errorf("find the occ release: %w", err)
	}
	pol := release.Policy{KeyFile: cmp(o.KeyFile, cfg.ReleaseVerifyKey)}
	if pol.KeyFile == "" {
		// The keyless trusted root: image_verify_trusted_root, else the one
		// `occ image trust-root --refresh` fetched, else occ's own.
		c := *cfg
		c.ImageVerify, c.ImageVerifyKey = meta.VerifyRequire, ""
		tp, err := VerifyPolicy(&c, e.Paths)
		if err != nil {
			return nil, err
		}
		pol.TrustedMaterial = tp.TrustedMaterial
	}
	sums, signer, err := pol.Verify(f)
	if err != nil {
		return nil, err
	}
	return &CLIVersionCheck{Current: meta.Version, Available: f.Version, fetched: f, sums: sums, signer: signer}, nil
}

// Newer is whether this occ is newer than the newest release (a build
// from a later commit): only an explicit --version goes back.
func (c *CLIVersionCheck) Newer() bool {
	if !c.fetched.Latest {
		return false
	}
	cur, avail := "v"+strings.TrimPrefix(c.Current, "v"), "v"+c.Available
	return semver.IsValid(cur) && semver.IsValid(avail) && semver.Compare(cur, avail) > 0
}

func cmp(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// UpdateCLI replaces the occ binary with a release's: checksums.txt's
// signature verified, then the archive against it; the new binary is put
// in place with one rename and must run `occ version` reporting the
// release's version, else the old one goes back. A binary a package
// manager installed is refused (its package manager updates it).
func (e *Env) UpdateCLI(ctx context.Context, o UpdateCLIOptions) (*UpdateCLIResult, error) {
	exe := o.Executable
	if exe == "" {
		var err error
		if exe, err = release.Executable(); err != nil {
			return nil, err
		}
	}
	if pm := release.OwningPackage(cmp(o.DpkgInfoDir, release.DpkgInfoDir), exe); pm != "" {
		return nil, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf(
			"%s was installed by %s: update it with the package manager instead (apt: download the new occ_VERSION_ARCH.deb from the releases page and `sudo apt install ./occ_VERSION_ARCH.deb`; dnf: `sudo dnf install URL-of-the-.rpm`)", exe, pm))
	}
	chk, err := e.CheckCLI(ctx, o)
	if err != nil {
		return nil, err
	}
	res := &UpdateCLIResult{From: chk.Current, To: chk.Available, Path: exe, Signer: chk.signer}
	if chk.Available == chk.Current {
		res.UpToDate = true
		e.Report.Successf("occ is already at %s (%s)", chk.Current, exe)
		return res, nil
	}
	if chk.Newer() {
		res.UpToDate, res.To = true, chk.Current
		e.Report.Successf("occ %s is newer than the newest release, %s; nothing to do (--version %s installs that one)", chk.Current, chk.Available, chk.Available)
		return res, nil
	}
	e.Report.Infof("occ release %s: checksums.txt signed by %s", chk.Available, chk.signer)
	if !o.Yes {
		ok, err := e.Prompt.Confirm(fmt.Sprintf("Replace occ %s (%s) with %s?", chk.Current, exe, chk.Available), true, "--yes")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errdefs.ErrAborted.WithMessage("Aborted; occ was not changed.")
		}
	}
	dir := filepath.Dir(exe)
	if err := writable(dir); err != nil {
		return nil, err
	}
	archive, err := (release.Source{}).Download(ctx, chk.fetched, chk.sums, dir)
	if err != nil {
		return nil, err
	}
	defer os.Remove(archive)
	e.Report.Verbosef("%s matches checksums.txt", chk.fetched.Archive)
	newBin, err := release.ExtractBinary(archive, dir)
	if err != nil {
		return nil, err
	}
	defer os.Remove(newBin) // gone already when it was put in place
	if err := release.Replace(exe, newBin, func(path string) error { return runsAs(ctx, path, chk.Available) }); err != nil {
		return nil, fmt.Errorf("update failed: %w", err)
	}
	e.Report.Successf("Updated occ from %s to %s (%s)", chk.Current, chk.Available, exe)
	if o.NoRestart {
		return res, nil
	}
	res.Restarted, err = e.offerRestart(ctx, o, exe)
	return res, err
}

// writable checks that occ may write dir (the new binary goes beside the
// old one).
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".occ-write-test-*")
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("occ cannot write %s, where it is installed: run the update as the user who installed it (sudo occ update cli)", dir))
		}
		return fmt.Errorf("write beside the occ binary in %s: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// runsAs runs `path version --json` and checks it reports version.
func runsAs(ctx context.Context, path, version string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "version", "--json")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("`occ version` failed: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var v struct {
		Occ struct {
			Version string `json:"version"`
		} `json:"occ"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return fmt.Errorf("`occ version --json` printed no version: %w", err)
	}
	if v.Occ.Version != version {
		return fmt.Errorf("`occ version` reports %s, not the release's %s", v.Occ.Version, version)
	}
	return nil
}

// offerRestart restarts a running sandbox with the new binary: at once
// with --yes, after a question on a terminal, otherwise it says how.
func (e *Env) offerRestart(ctx context.Context, o UpdateCLIOptions, exe string) (bool, error) {
	s, err := e.Open(ctx, OpenOptions{})
	if err != nil {
		e.Report.Verbosef("whether the sandbox runs: %v", err)
		return false, nil
	}
	running := s.Running()
	s.Close()
	if !running {
		return false, nil
	}
	if !o.Yes {
		if !e.Prompt.CanPrompt() {
			e.Report.Infof("The sandbox runs with what the old occ set up; to restart it with the new one: occ restart")
			return false, nil
		}
		ok, err := e.Prompt.Confirm("The sandbox is running. Restart it now with the new occ?", true, "--yes")
		if err != nil || !ok {
			if err == nil {
				e.Report.Infof("Restart it later with: occ restart")
			}
			return false, err
		}
	}
	cmd := exec.CommandContext(ctx, exe, append(append([]string(nil), o.Args...), "restart")...)
	cmd.Stdout, cmd.Stderr = o.Stdout, o.Stderr
	if err := cmd.Run(); err != nil {
		return false, fmt.Errorf("occ was updated, but `occ restart` failed: %w; run it again: occ restart", err)
	}
	return true, nil
}
