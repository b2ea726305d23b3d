package release

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// DefaultURL is where occ's releases are published.
const DefaultURL = meta.DefaultReleaseURL

// Files every release publishes beside the archives.
const (
	ChecksumsFile = "checksums.txt"
	BundleFile    = "checksums.txt.sigstore.json"
)

// Limits on what is read from a release server.
const (
	maxSmallFile   = 1 << 20   // checksums.txt and its bundle
	maxArchiveSize = 512 << 20 // an archive (occ's is about 25 MiB)
	maxBinarySize  = 512 << 20 // the binary inside it
)

// ArchiveName is the release archive of version for goos/goarch, as
// .goreleaser.yaml names it.
func ArchiveName(version, goos, goarch string) string {
	return fmt.Sprintf("occ_%s_%s_%s.tar.gz", version, goos, goarch)
}

// Source is where releases are fetched from.
type Source struct {
	// URL is the releases URL (DefaultURL, or a mirror laid out the same
	// way: download/vVERSION/FILE and latest/download/FILE).
	URL string
	// Client does the requests (nil: http.DefaultClient).
	Client *http.Client
	// GOOS and GOARCH choose the archive (empty: this binary's).
	GOOS, GOARCH string
}

// Fetched is a release whose checksums file and bundle were fetched (not
// yet verified).
type Fetched struct {
	// Version is the release's version, without "v".
	Version string
	// Archive is this platform's archive name, and ArchiveURL where it is.
	Archive, ArchiveURL string
	// Checksums and Bundle are the raw files.
	Checksums, Bundle []byte
	// Latest: Version was found as the newest release.
	Latest bool
}

func (s Source) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return http.DefaultClient
}

func (s Source) platform() (string, string) {
	goos, goarch := s.GOOS, s.GOARCH
	if goos == "" {
		goos = runtime.GOOS
	}
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	return goos, goarch
}

func (s Source) base() (*url.URL, error) {
	raw := s.URL
	if raw == "" {
		raw = DefaultURL
	}
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the releases URL %q is not an http(s) URL (set it with --from URL or `occ config set release_url URL`)", raw))
	}
	return u, nil
}

// fileURL is the URL of file in version's release ("" version: the latest).
func (s Source) fileURL(version, file string) (string, error) {
	u, err := s.base()
	if err != nil {
		return "", err
	}
	if version == "" {
		return u.JoinPath("latest", "download", file).String(), nil
	}
	return u.JoinPath("download", "v"+version, file).String(), nil
}

// Fetch gets checksums.txt and its bundle for version ("" or "latest": the
// newest release) and names this platform's archive in it. Nothing is
// trusted yet: Verify checks what Fetch got.
func (s Source) Fetch(ctx context.Context, version string) (*Fetched, error) {
	version = strings.TrimPrefix(strings.TrimSpace(version), "v")
	if version == "latest" {
		version = ""
	}
	if version != "" && !versionRe.MatchString(version) {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%q is not a release version (such as 0.2.0)", version))
	}
	f := &Fetched{Version: version, Latest: version == ""}
	for _, x := range []struct {
		file string
		dst  *[]byte
	}{{ChecksumsFile, &f.Checksums}, {BundleFile, &f.Bundle}} {
		u, err := s.fileURL(version, x.file)
		if err != nil {
			return nil, err
		}
		if *x.dst, err = s.getSmall(ctx, u); err != nil {
			if x.file == BundleFile && errdefs.IsNotFound(err) && f.Checksums != nil {
				// The release is there, its signature is not.
				return nil, &SignatureError{Version: or(version, "latest"), Err: fmt.Errorf("the release has no %s (%s: 404)", BundleFile, u)}
			}
			return nil, err
		}
	}
	goos, goarch := s.platform()
	if f.Latest {
		v, err := versionFromChecksums(f.Checksums, goos, goarch)
		if err != nil {
			return nil, err
		}
		f.Version = v
	}
	f.Archive = ArchiveName(f.Version, goos, goarch)
	u, err := s.fileURL(f.Version, f.Archive)
	if err != nil {
		return nil, err
	}
	f.ArchiveURL = u
	return f, nil
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// versionRe is what a release version looks like (semver, a snapshot's
// build metadata included).
var versionRe = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$`)

// versionFromChecksums finds the version of the newest release in its
// checksums file: the one archive there for goos/goarch.
func versionFromChecksums(data []byte, goos, goarch string) (string, error) {
	re := regexp.MustCompile(`^occ_(.+)_` + regexp.QuoteMeta(goos) + `_` + regexp.QuoteMeta(goarch) + `\.tar\.gz$`)
	entries, err := ParseChecksums(data)
	if err != nil {
		return "", err
	}
	found := ""
	for name := range entries {
		if m := re.FindStringSubmatch(name); m != nil && versionRe.MatchString(m[1]) {
			if found != "" && found != m[1] {
				return "", fmt.Errorf("the latest release's %s lists archives of two versions (%s, %s)", ChecksumsFile, found, m[1])
			}
			found = m[1]
		}
	}
	if found == "" {
		return "", errdefs.ErrNotFound.WithMessage(fmt.Sprintf("the latest release has no archive for %s/%s", goos, goarch))
	}
	return found, nil
}

func (s Source) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, errors.Join(errdefs.ErrInvalidArgument, err)
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w (%w)", u, errdefs.ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("fetch %s: 404 Not Found (is there such a release? see the releases page, or --version)", u))
		}
		return nil, fmt.Errorf("fetch %s: %s: %w", u, resp.Status, errdefs.ErrUnavailable)
	}
	return resp, nil
}

func (s Source) getSmall(ctx context.Context, u string) ([]byte, error) {
	resp, err := s.get(ctx, u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSmallFile+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	if len(data) > maxSmallFile {
		return nil, fmt.Errorf("fetch %s: larger than %d bytes", u, maxSmallFile)
	}
	return data, nil
}

// ParseChecksums reads a checksums file (sha256sum's format: a hex digest,
// two spaces or a space and '*', a file name): name → digest. A malformed
// line is an error, not skipped: the file is signed as a whole.
func ParseChecksums(data []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		sum, name, ok := strings.Cut(line, " ")
		name = strings.TrimPrefix(strings.TrimPrefix(name, " "), "*")
		if !ok || len(sum) != 64 || name == "" || strings.ContainsAny(name, "/\\") {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s line %d is not \"SHA256  FILE\": %q", ChecksumsFile, n, line))
		}
		if _, err := hex.DecodeString(sum); err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s line %d: %q is not a SHA-256 in hex", ChecksumsFile, n, sum))
		}
		if prev, dup := out[name]; dup && prev != strings.ToLower(sum) {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s lists %s twice with different sums", ChecksumsFile, name))
		}
		out[name] = strings.ToLower(sum)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", ChecksumsFile, err)
	}
	return out, nil
}

// ChecksumError is an archive whose SHA-256 is not the one checksums.txt
// gives.
type ChecksumError struct {
	File, Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%s does not match %s: its SHA-256 is %s, the signed checksum is %s (a tampered or damaged download); nothing was installed", e.File, ChecksumsFile, e.Got, e.Want)
}

func (e *ChecksumError) Unwrap() error { return errdefs.ErrFailedPrecondition }

// Download fetches the archive f names into a file in dir, checking its
// SHA-256 against sums (checksums.txt, verified first) while it streams.
// It returns the file's path; on any error nothing is left in dir.
func (s Source) Download(ctx context.Context, f *Fetched, sums map[string]string, dir string) (string, error) {
	want, ok := sums[f.Archive]
	if !ok {
		return "", errdefs.ErrNotFound.WithMessage(fmt.Sprintf("%s of release %s does not list %s (no build for this platform?)", ChecksumsFile, f.Version, f.Archive))
	}
	resp, err := s.get(ctx, f.ArchiveURL)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	out, err := os.CreateTemp(dir, ".occ-release-*.tar.gz")
	if err != nil {
		return "", fmt.Errorf("download %s: %w", f.Archive, err)
	}
	ok = false
	defer func() {
		if !ok {
			out.Close()
			os.Remove(out.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(resp.Body, maxArchiveSize+1))
	if err != nil {
		return "", fmt.Errorf("download %s: %w", f.ArchiveURL, err)
	}
	if n > maxArchiveSize {
		return "", fmt.Errorf("download %s: larger than %d bytes", f.ArchiveURL, maxArchiveSize)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return "", &ChecksumError{File: f.Archive, Want: want, Got: got}
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("download %s: %w", f.Archive, err)
	}
	ok = true
	return out.Name(), nil
}

// ExtractBinary writes the archive's top-level "occ" into a new file in
// dir (mode 0755, fsynced) and returns its path. A missing binary, or one
// that is not a regular file, is an error, and then nothing is left in dir.
func ExtractBinary(archive, dir string) (string, error) {
	in, err := os.Open(archive)
	if err != nil {
		return "", err
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		return "", fmt.Errorf("%s is not a gzip archive: %w", filepath.Base(archive), errors.Join(errdefs.ErrInvalidArgument, err))
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return "", errdefs.ErrNotFound.WithMessage("the release archive holds no occ binary")
		}
		if err != nil {
			return "", fmt.Errorf("read the release archive: %w", errors.Join(errdefs.ErrInvalidArgument, err))
		}
		if strings.TrimPrefix(h.Name, "./") != "occ" {
			continue
		}
		if h.Typeflag != tar.TypeReg || h.Size <= 0 || h.Size > maxBinarySize {
			return "", errdefs.ErrInvalidArgument.WithMessage("the release archive's occ is not a regular file of a sane size")
		}
		return writeBinary(dir, io.LimitReader(tr, h.Size), h.Size)
	}
}

// writeBinary writes r (size bytes) into a new executable file in dir.
func writeBinary(dir string, r io.Reader, size int64) (path string, err error) {
	out, err := os.CreateTemp(dir, ".occ-new-*")
	if err != nil {
		return "", fmt.Errorf("write the new binary beside the old one: %w", err)
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(out.Name())
		}
	}()
	n, err := io.Copy(out, r)
	if err != nil {
		return "", fmt.Errorf("write the new binary: %w", err)
	}
	if n != size {
		return "", fmt.Errorf("write the new binary: the archive ended after %d of %d bytes", n, size)
	}
	if err = out.Chmod(0o755); err != nil {
		return "", fmt.Errorf("write the new binary: %w", err)
	}
	if err = out.Sync(); err != nil {
		return "", fmt.Errorf("write the new binary: %w", err)
	}
	if err = out.Close(); err != nil {
		return "", fmt.Errorf("write the new binary: %w", err)
	}
	return out.Name(), nil
}
