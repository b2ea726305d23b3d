package release

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"

	"github.com/containerd/errdefs"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/opencode-cloud/occ/internal/blobsign"
	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/trust"
)

// Policy is who must have signed a release's checksums.txt.
type Policy struct {
	// KeyFile, when set, is the PEM public key the bundle must be signed
	// with (a release signed the way make release-snapshot signs, or a
	// mirror's own key); the identity fields are then ignored.
	KeyFile string
	// Issuer is the OIDC issuer of the signing certificate (keyless).
	Issuer string
	// Identity is a regular expression the certificate's identity must
	// match in full (keyless); "" is the release workflow at the release's
	// own tag (ReleaseIdentity).
	Identity string
	// TrustedMaterial holds the Fulcio CAs and Rekor logs (keyless); nil is
	// the Sigstore public-good root embedded in occ.
	TrustedMaterial root.TrustedMaterial
}

// ReleaseIdentity is the identity that signs release version: the release
// workflow of this project run for the tag vVERSION, and no other tag's.
func ReleaseIdentity(version string) string {
	return `^https://github\.com/opencode-cloud/occ/\.github/workflows/release\.yml@refs/tags/v` + regexp.QuoteMeta(version) + `$`
}

// SignatureError is a checksums file whose signature is missing, malformed
// or not the trusted signer's.
type SignatureError struct {
	Version string
	Err     error
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("the signature over %s of release %s does not verify: %v; nothing was installed", ChecksumsFile, e.Version, e.Err)
}

func (e *SignatureError) Unwrap() []error { return []error{errdefs.ErrFailedPrecondition, e.Err} }

// Verify checks f's bundle over its checksums file under p and returns the
// verified checksums (file name → SHA-256) and who signed them.
func (p Policy) Verify(f *Fetched) (map[string]string, string, error) {
	if len(bytes.TrimSpace(f.Bundle)) == 0 {
		return nil, "", &SignatureError{Version: f.Version, Err: errors.New("the release has no " + BundleFile)}
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(f.Bundle); err != nil {
		return nil, "", &SignatureError{Version: f.Version, Err: fmt.Errorf("%s is not a Sigstore bundle: %w", BundleFile, err)}
	}
	return p.VerifyEntity(f, &b)
}

// VerifyEntity is Verify with the bundle already read (tests pass
// sigstore-go's virtual Sigstore entities).
func (p Policy) VerifyEntity(f *Fetched, entity verify.SignedEntity) (map[string]string, string, error) {
	var (
		trusted root.TrustedMaterial
		id      *blobsign.Identity
		signer  string
		err     error
	)
	if p.KeyFile != "" {
		if trusted, err = blobsign.PublicKeyMaterial(p.KeyFile); err != nil {
			return nil, "", fmt.Errorf("the release signing key %s: %w", p.KeyFile, errors.Join(errdefs.ErrInvalidArgument, err))
		}
		signer = "the key " + p.KeyFile
	} else {
		issuer, identity := p.Issuer, p.Identity
		if issuer == "" {
			issuer = meta.DefaultVerifyIssuer
		}
		if identity == "" {
			identity = ReleaseIdentity(f.Version)
		}
		if trusted = p.TrustedMaterial; trusted == nil {
			if trusted, err = trust.EmbeddedTrustedRoot(); err != nil {
				return nil, "", err
			}
		}
		id = &blobsign.Identity{SANRegexp: anchor(identity), Issuer: issuer}
		signer = fmt.Sprintf("%s (issuer %s)", identity, issuer)
	}
	if err := blobsign.Verify(entity, bytes.NewReader(f.Checksums), trusted, id); err != nil {
		return nil, "", &SignatureError{Version: f.Version, Err: err}
	}
	sums, err := ParseChecksums(f.Checksums)
	if err != nil {
		return nil, "", err
	}
	return sums, signer, nil
}

// anchor makes a pattern match the whole identity.
func anchor(re string) string {
	if len(re) == 0 || re[0] != '^' {
		re = "^(?:" + re + ")"
	}
	if re[len(re)-1] != '$' {
		re += "$"
	}
	return re
}
