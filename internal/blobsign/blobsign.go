// Package blobsign signs and verifies a file (the release's checksums file)
// as a Sigstore bundle (application/vnd.dev.sigstore.bundle.v0.3+json) with
// sigstore-go: with a local ECDSA P-256 key (make release-snapshot, offline,
// no transparency log), or keyless (the release workflow: a Fulcio
// certificate for the workflow's OIDC identity and a Rekor entry).
// cosign verify-blob --bundle reads the same bundles.
package blobsign

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/opencode-cloud/occ/pkg/trust"
)

// Sigstore's public-good instances, for keyless signing.
const (
	PublicFulcio = "https://fulcio.sigstore.dev"
	PublicRekor  = "https://rekor.sigstore.dev"
)

// GenerateKey writes a new ECDSA P-256 key pair (pkg/trust's, the same
// keys the sandbox image publisher signs with): the private key as PKCS#8
// PEM (mode 0600) and the public key as PKIX PEM. It refuses to overwrite
// either file.
func GenerateKey(privPath, pubPath string) error {
	priv, pub, err := trust.GenerateKey()
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		pem  []byte
		mode os.FileMode
	}{{privPath, priv, 0o600}, {pubPath, pub, 0o644}} {
		out, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			return fmt.Errorf("write the key: %w", err)
		}
		if _, err := out.Write(f.pem); err != nil {
			out.Close()
			return fmt.Errorf("write %s: %w", f.path, err)
		}
		if err := out.Close(); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return nil
}

// LoadKey reads a PEM private key (pkg/trust's formats: PKCS#8, SEC 1 or
// PKCS#1) as a sigstore-go signing key.
func LoadKey(path string) (sign.Keypair, error) {
	k, err := trust.LoadPrivateKey(path)
	if err != nil {
		return nil, fmt.Errorf("%w (go run ./hack/signblob keygen makes one)", err)
	}
	return trust.NewKeypair(k)
}

// KeylessOptions say where to get the certificate and the log entry.
type KeylessOptions struct {
	IDToken   string // the OIDC token (GitHub Actions: see GitHubActionsToken)
	FulcioURL string
	RekorURL  string
}

// Sign signs the file at path and returns the bundle's JSON. With keyless
// nil it signs with key (a key-based bundle: the public key's hint, no
// certificate, no log entry); otherwise with a fresh key certified by
// Fulcio and logged in Rekor.
func Sign(ctx context.Context, path string, key sign.Keypair, keyless *KeylessOptions) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read what to sign: %w", err)
	}
	opts := sign.BundleOptions{Context: ctx}
	if keyless != nil {
		if keyless.IDToken == "" {
			return nil, errors.New("keyless signing needs an OIDC token (in GitHub Actions: permissions id-token: write)")
		}
		if key, err = sign.NewEphemeralKeypair(nil); err != nil {
			return nil, err
		}
		opts.CertificateProvider = sign.NewFulcio(&sign.FulcioOptions{BaseURL: or(keyless.FulcioURL, PublicFulcio), Timeout: 30 * time.Second, Retries: 2})
		opts.CertificateProviderOptions = &sign.CertificateProviderOptions{IDToken: keyless.IDToken}
		opts.TransparencyLogs = []sign.Transparency{sign.NewRekor(&sign.RekorOptions{BaseURL: or(keyless.RekorURL, PublicRekor), Timeout: 90 * time.Second, Retries: 2})}
	} else if key == nil {
		return nil, errors.New("no signing key: give a key file, or sign keyless")
	}
	b, err := sign.Bundle(&sign.PlainData{Data: data}, key, opts)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", path, err)
	}
	return protojson.Marshal(b)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// PublicKeyMaterial trusts exactly the public key in the PEM file at path.
func PublicKeyMaterial(path string) (root.TrustedMaterial, error) {
	pub, err := trust.LoadPublicKey(path)
	if err != nil {
		return nil, err
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	k := root.NewExpiringKey(v, time.Time{}, time.Time{})
	return root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return k, nil }), nil
}

// Identity is who must have signed a keyless bundle: the certificate's
// subject alternative name (a regular expression, e.g. the release
// workflow's URL at a v* tag) and OIDC issuer.
type Identity struct {
	SANRegexp string
	Issuer    string
}

// GitHubIssuer is the OIDC issuer of GitHub Actions tokens.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// Verify checks entity (a bundle) against the artifact: signed with the
// trusted key when identity is nil, otherwise by identity with a
// certificate from trusted's Fulcio, logged in its Rekor.
func Verify(entity verify.SignedEntity, artifact io.Reader, trusted root.TrustedMaterial, identity *Identity) error {
	var vopts []verify.VerifierOption
	var popts []verify.PolicyOption
	if identity == nil {
		vopts = append(vopts, verify.WithNoObserverTimestamps())
		popts = append(popts, verify.WithKey())
	} else {
		vopts = append(vopts, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
		id, err := verify.NewShortCertificateIdentity(identity.Issuer, "", "", identity.SANRegexp)
		if err != nil {
			return fmt.Errorf("the identity to check: %w", err)
		}
		popts = append(popts, verify.WithCertificateIdentity(id))
	}
	v, err := verify.NewVerifier(trusted, vopts...)
	if err != nil {
		return err
	}
	if _, err := v.Verify(entity, verify.NewPolicy(verify.WithArtifact(artifact), popts...)); err != nil {
		return fmt.Errorf("the signature does not verify: %w", err)
	}
	return nil
}

// LoadBundle reads a bundle's JSON.
func LoadBundle(path string) (*bundle.Bundle, error) {
	b, err := bundle.LoadJSONFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("read the bundle %s: %w", path, err)
	}
	return b, nil
}
