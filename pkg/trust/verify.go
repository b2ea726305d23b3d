package trust

import (
	"context"
	"crypto"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/opencode-cloud/occ/pkg/meta"
)

// Modes of image_verify.
const (
	ModeOff     = "off"
	ModeWarn    = "warn"
	ModeRequire = "require"
)

//go:embed trusted_root.json
var embeddedTrustedRoot []byte

// EmbeddedTrustedRoot is the Sigstore public-good trusted root (Fulcio CAs,
// Rekor and CT log keys, TSAs) as of this occ's release: verification never
// needs the network. RefreshTrustedRoot fetches a newer one.
func EmbeddedTrustedRoot() (*root.TrustedRoot, error) {
	tr, err := root.NewTrustedRootFromJSON(embeddedTrustedRoot)
	if err != nil {
		return nil, fmt.Errorf("the embedded trusted root: %w", err)
	}
	return tr, nil
}

// LoadTrustedRoot reads a Sigstore trusted_root.json (a newer public-good
// root, or a private Sigstore's).
func LoadTrustedRoot(path string) (*root.TrustedRoot, error) {
	tr, err := root.NewTrustedRootFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("trusted root %s: %w", path, errors.Join(errdefs.ErrInvalidArgument, err))
	}
	return tr, nil
}

// Policy is what a signature must satisfy.
type Policy struct {
	// PublicKey, when set, is the only key a signature may be made with
	// (key mode); the identity fields are then ignored.
	PublicKey crypto.PublicKey
	// Issuer is the OIDC issuer the signing certificate must name, exactly.
	Issuer string
	// Identity is a regular expression the certificate's identity (its
	// subject alternative name: a workflow URI or an e-mail) must match in
	// full.
	Identity string
	// TrustedMaterial holds the CAs, logs and TSAs (keyless); nil is
	// EmbeddedTrustedRoot.
	TrustedMaterial root.TrustedMaterial
	// MaxBundles bounds how many signatures are tried (default 8).
	MaxBundles int
	// Now is the clock (tests).
	Now func() time.Time
}

// maxBundleSize bounds what is read of one bundle.
const maxBundleSize = 1 << 20

// Error is a refused verification. It wraps errdefs.ErrNotFound when the
// image carries no signature at all, errdefs.ErrFailedPrecondition when
// no signature satisfies the policy.
type Error struct {
	Ref      string
	NotFound bool
	Problems []string
}

func (e *Error) Error() string {
	if e.NotFound {
		return fmt.Sprintf("%s has no signature (no Sigstore bundle among its referrers)", e.Ref)
	}
	return fmt.Sprintf("no signature of %s satisfies the policy: %s", e.Ref, strings.Join(e.Problems, "; "))
}

func (e *Error) Unwrap() error {
	if e.NotFound {
		return errdefs.ErrNotFound
	}
	return errdefs.ErrFailedPrecondition
}

// Verify finds the Sigstore bundles attached to ref (a digest) and returns
// the first that verifies under p. opts reach the registry (transport,
// auth); the registry is asked for ref's referrers (or the referrers tag)
// and for the bundles, nothing else.
func (p Policy) Verify(ctx context.Context, ref name.Digest, opts ...remote.Option) (*meta.Verification, error) {
	h, err := v1.NewHash(ref.DigestStr())
	if err != nil {
		return nil, errors.Join(errdefs.ErrInvalidArgument, err)
	}
	raw, err := hex.DecodeString(h.Hex)
	if err != nil {
		return nil, errors.Join(errdefs.ErrInvalidArgument, err)
	}
	v, pol, method, err := p.verifier(raw)
	if err != nil {
		return nil, err
	}
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	idx, err := remote.Referrers(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("list the signatures of %s: %w", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("list the signatures of %s: %w", ref, err)
	}
	maxN := p.MaxBundles
	if maxN <= 0 {
		maxN = 8
	}
	refErr := &Error{Ref: ref.String()}
	tried := 0
	for _, d := range im.Manifests {
		// The artifact type, or (registries that report the config's
		// media type instead, such as go-containerregistry's own) the
		// predicate annotation copied from the referrer.
		if d.ArtifactType != BundleMediaType && d.Annotations[AnnotationPredicateType] == "" {
			continue
		}
		if tried == maxN {
			refErr.Problems = append(refErr.Problems, fmt.Sprintf("more than %d signatures; the rest were not tried", maxN))
			break
		}
		tried++
		res, err := p.verifyReferrer(ctx, ref, d, v, pol, method, opts)
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		refErr.Problems = append(refErr.Problems, fmt.Sprintf("signature %s: %v", short(d.Digest.String()), err))
	}
	if tried == 0 {
		refErr.NotFound = true
	}
	return nil, refErr
}

func short(s string) string {
	if len(s) > 19 {
		return s[:19]
	}
	return s
}

func (p Policy) verifier(artifactDigest []byte) (*verify.Verifier, verify.PolicyBuilder, string, error) {
	art := verify.WithArtifactDigest("sha256", artifactDigest)
	if p.PublicKey != nil {
		id, err := KeyID(p.PublicKey)
		if err != nil {
			return nil, verify.PolicyBuilder{}, "", err
		}
		sv, err := signature.LoadDefaultVerifier(p.PublicKey)
		if err != nil {
			return nil, verify.PolicyBuilder{}, "", fmt.Errorf("public key: %w", errors.Join(errdefs.ErrNotImplemented, err))
		}
		tm := root.NewTrustedPublicKeyMaterialFromMapping(map[string]*root.ExpiringKey{id: root.NewExpiringKey(sv, time.Time{}, time.Time{})})
		v, err := verify.NewVerifier(tm, verify.WithNoObserverTimestamps())
		if err != nil {
			return nil, verify.PolicyBuilder{}, "", err
		}
		return v, verify.NewPolicy(art, verify.WithKey()), meta.VerifyKey, nil
	}
	if p.Issuer == "" || p.Identity == "" {
		return nil, verify.PolicyBuilder{}, "", errdefs.ErrInvalidArgument.WithMessage(
			"the verification policy names neither a public key nor an identity: set image_verify_key, or image_verify_issuer and image_verify_identity")
	}
	if _, err := regexp.Compile(p.Identity); err != nil {
		return nil, verify.PolicyBuilder{}, "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("image_verify_identity %q is not a regular expression: %v", p.Identity, err))
	}
	tm := p.TrustedMaterial
	if tm == nil {
		tr, err := EmbeddedTrustedRoot()
		if err != nil {
			return nil, verify.PolicyBuilder{}, "", err
		}
		tm = tr
	}
	id, err := verify.NewShortCertificateIdentity(p.Issuer, "", "", anchor(p.Identity))
	if err != nil {
		return nil, verify.PolicyBuilder{}, "", errors.Join(errdefs.ErrInvalidArgument, err)
	}
	v, err := verify.NewVerifier(tm, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
	if err != nil {
		return nil, verify.PolicyBuilder{}, "", err
	}
	return v, verify.NewPolicy(art, verify.WithCertificateIdentity(id)), meta.VerifyKeyless, nil
}

// anchor makes a pattern match the whole identity.
func anchor(re string) string {
	if !strings.HasPrefix(re, "^") {
		re = "^(?:" + re + ")"
	}
	if !strings.HasSuffix(re, "$") {
		re += "$"
	}
	return re
}

func (p Policy) verifyReferrer(ctx context.Context, ref name.Digest, d v1.Descriptor, v *verify.Verifier, pol verify.PolicyBuilder, method string, opts []remote.Option) (*meta.Verification, error) {
	img, err := remote.Image(ref.Context().Digest(d.Digest.String()), opts...)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	for _, l := range layers {
		mt, err := l.MediaType()
		if err != nil || string(mt) != BundleMediaType {
			continue
		}
		ld, err := l.Digest()
		if err != nil {
			return nil, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, fmt.Errorf("fetch the bundle: %w", err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxBundleSize+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("fetch the bundle: %w", err)
		}
		if len(data) > maxBundleSize {
			return nil, fmt.Errorf("the bundle is larger than %d bytes", maxBundleSize)
		}
		if got, _, err := v1.SHA256(strings.NewReader(string(data))); err != nil || got != ld {
			return nil, fmt.Errorf("the bundle blob does not match its digest %s", ld)
		}
		var b bundle.Bundle
		if err := b.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("not a valid Sigstore bundle: %w", err)
		}
		res, err := v.Verify(&b, pol)
		if err != nil {
			return nil, err
		}
		now := time.Now
		if p.Now != nil {
			now = p.Now
		}
		out := &meta.Verification{Verified: true, Method: method, BundleDigest: ld.String(), VerifiedAt: now().UTC()}
		if c := res.Signature; c != nil && c.Certificate != nil {
			out.Identity = c.Certificate.SubjectAlternativeName
			out.Issuer = c.Certificate.Issuer
		} else if p.PublicKey != nil {
			out.Identity, _ = KeyID(p.PublicKey)
		}
		for _, t := range res.VerifiedTimestamps {
			if out.SignedAt.IsZero() || t.Timestamp.Before(out.SignedAt) {
				out.SignedAt = t.Timestamp.UTC()
			}
		}
		return out, nil
	}
	return nil, errors.New("the referrer holds no bundle layer")
}

// Hinter is an error that says how to change the policy.
type Hinter interface{ Hint() string }

// CheckError is a verification refused under image_verify require.
type CheckError struct {
	Ref string
	Err error
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("%v; nothing was recorded", e.Err)
}
func (e *CheckError) Unwrap() error { return e.Err }

// Hint says what to change: the policy, or the trusted signer.
func (e *CheckError) Hint() string {
	return "to trust another signer set image_verify_key FILE (a public key) or image_verify_issuer and image_verify_identity; " +
		"to pull it unverified (at your own risk) `occ config set image_verify warn` (or off)"
}

// Check verifies ref under mode: off checks nothing (nil, nil); warn
// returns an unverified Verification (Problem says why) instead of an
// error; require returns a *CheckError when nothing verifies.
func (p Policy) Check(ctx context.Context, mode string, ref name.Digest, opts ...remote.Option) (*meta.Verification, error) {
	switch mode {
	case ModeOff:
		return nil, nil
	case ModeWarn, ModeRequire:
	default:
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("image_verify must be off, warn or require, not %q", mode))
	}
	v, err := p.Verify(ctx, ref, opts...)
	if err == nil {
		v.Policy = mode
		return v, nil
	}
	if ctx.Err() != nil {
		return nil, err
	}
	if mode == ModeRequire {
		return nil, &CheckError{Ref: ref.String(), Err: err}
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	return &meta.Verification{Policy: mode, Verified: false, Problem: err.Error(), VerifiedAt: now().UTC()}, nil
}

// EmbeddedTrustedRootJSON is the embedded trusted root as JSON (a copy).
func EmbeddedTrustedRootJSON() []byte { return append([]byte(nil), embeddedTrustedRoot...) }
