package build

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// ExtraCASecretID is the BuildKit secret the sandbox Dockerfile reads extra
// CA certificates from (optional: without it the build is unchanged). Only
// the steps that download mount it, and it is never stored in the image.
const ExtraCASecretID = "extra_ca"

// ExtraCA is a bundle of CA certificates for builds behind a
// TLS-intercepting proxy.
type ExtraCA struct {
	// PEM holds every certificate found, PEM-encoded, one after another.
	PEM []byte
	// Count is the number of certificates.
	Count int
	// Files are the files they came from.
	Files []string
	// Skipped are files of the system directory that held no certificate.
	Skipped []string
}

// LoadExtraCA collects the certificates to pass as the extra_ca secret.
// With files (the config's build_ca_files) it reads exactly those: each
// must exist and hold at least one PEM certificate. Without, it reads every
// *.crt and *.pem under systemDir (meta.SystemExtraCADir; "" skips it),
// skipping files without a certificate; a missing directory gives an empty
// bundle. The result is nil when there is nothing to pass.
func LoadExtraCA(files []string, systemDir string) (*ExtraCA, error) {
	ca := &ExtraCA{}
	if len(files) > 0 {
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
						"build_ca_files: %s does not exist; fix the list with `occ config set build_ca_files FILE,...` (or \"\" to use %s)", f, meta.SystemExtraCADir))
				}
				return nil, fmt.Errorf("build_ca_files: read %s: %w", f, err)
			}
			n, err := ca.add(f, data)
			if err != nil {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("build_ca_files: %s: %v", f, err))
			}
			if n == 0 {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
					"build_ca_files: %s holds no PEM certificate (-----BEGIN CERTIFICATE-----); convert a DER file with `openssl x509 -inform der -in FILE -out FILE.pem`", f))
			}
		}
		return ca.orNil(), nil
	}
	if systemDir == "" {
		return nil, nil
	}
	var found []string
	err := filepath.WalkDir(systemDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == systemDir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		if ext := strings.ToLower(filepath.Ext(p)); ext == ".crt" || ext == ".pem" {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("look for extra CA certificates in %s: %w", systemDir, err)
	}
	sort.Strings(found)
	for _, f := range found {
		data, err := os.ReadFile(f) // follows symlinks, as update-ca-certificates does
		if err != nil {
			ca.Skipped = append(ca.Skipped, f)
			continue
		}
		if n, err := ca.add(f, data); err != nil || n == 0 {
			ca.Skipped = append(ca.Skipped, f)
		}
	}
	return ca.orNil(), nil
}

// add appends the certificates in data and returns how many there were. A
// PEM certificate block that does not parse is an error.
func (ca *ExtraCA) add(name string, data []byte) (int, error) {
	var out bytes.Buffer
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return 0, fmt.Errorf("certificate %d does not parse: %w", n+1, err)
		}
		if err := pem.Encode(&out, &pem.Block{Type: b.Type, Bytes: b.Bytes}); err != nil {
			return 0, err
		}
		n++
	}
	if n > 0 {
		ca.PEM = append(ca.PEM, out.Bytes()...)
		ca.Count += n
		ca.Files = append(ca.Files, name)
	}
	return n, nil
}

func (ca *ExtraCA) orNil() *ExtraCA {
	if ca.Count == 0 {
		if len(ca.Skipped) > 0 {
			return &ExtraCA{Skipped: ca.Skipped}
		}
		return nil
	}
	return ca
}

// secrets is the session attachable that serves the build's secrets: the
// extra CA bundle, when there is one. BuildKit asks for it only while a
// step that mounts it runs; it is kept in memory, never written to disk.
func (ca *ExtraCA) secrets() (session.Attachable, error) {
	if ca == nil || ca.Count == 0 {
		return nil, nil
	}
	if len(ca.PEM) > secretsprovider.MaxSecretSize {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
			"the extra CA certificates (%d from %s) are %d KiB, more than BuildKit's %d KiB limit for a secret: list only the proxy's CA in build_ca_files",
			ca.Count, strings.Join(ca.Files, ", "), len(ca.PEM)/1024, secretsprovider.MaxSecretSize/1024))
	}
	return secretsprovider.FromMap(map[string][]byte{ExtraCASecretID: ca.PEM}), nil
}
