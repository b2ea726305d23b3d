package trust

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

const (
	// BundleMediaType is the media type of a Sigstore bundle, and the
	// artifact type of the referrer that carries it.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// PredicateType is the in-toto predicate of an image signature (cosign's).
	PredicateType = "https://sigstore.dev/cosign/sign/v1"
	// inTotoPayloadType is the DSSE payload type of an in-toto statement.
	inTotoPayloadType = "application/vnd.in-toto+json"
	// AnnotationPredicateType is set on the referrer manifest (as cosign does).
	AnnotationPredicateType = "dev.sigstore.bundle.predicateType"
	// AnnotationCreated is the OCI creation time of the referrer.
	AnnotationCreated = "org.opencontainers.image.created"

	emptyMediaType = "application/vnd.oci.empty.v1+json"
)

// Signer says how to sign: Keypair always; with CertificateProvider
// (Fulcio) the bundle carries a certificate for the signer's identity
// instead of a key hint; Transparency (Rekor) and TimestampAuthorities add
// the observed times keyless verification needs.
type Signer struct {
	Keypair              sign.Keypair
	CertificateProvider  sign.CertificateProvider
	CertificateOptions   *sign.CertificateProviderOptions
	Transparency         []sign.Transparency
	TimestampAuthorities []*sign.TimestampAuthority
}

// statement is the in-toto statement an image signature signs.
func statement(subjectName string, dgst v1.Hash) ([]byte, error) {
	if dgst.Algorithm != "sha256" {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("can only sign sha256 digests, not %s", dgst))
	}
	return json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": subjectName, "digest": map[string]string{"sha256": dgst.Hex}}},
		"predicateType": PredicateType,
		"predicate":     map[string]any{},
	})
}

// SignDigest signs dgst (an image index or manifest digest) for subjectName
// (the repository, without registry, by convention) and returns the bundle
// as JSON.
func SignDigest(ctx context.Context, s Signer, subjectName string, dgst v1.Hash) ([]byte, error) {
	if s.Keypair == nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("no signing key")
	}
	st, err := statement(subjectName, dgst)
	if err != nil {
		return nil, err
	}
	b, err := sign.Bundle(&sign.DSSEData{Data: st, PayloadType: inTotoPayloadType}, s.Keypair, sign.BundleOptions{
		Context:                    ctx,
		CertificateProvider:        s.CertificateProvider,
		CertificateProviderOptions: s.CertificateOptions,
		TransparencyLogs:           s.Transparency,
		TimestampAuthorities:       s.TimestampAuthorities,
	})
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", dgst, err)
	}
	out, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode the bundle: %w", err)
	}
	return out, nil
}

// Attached is a bundle attached to an image.
type Attached struct {
	Subject  name.Digest
	Referrer v1.Hash // the artifact manifest's digest
	Bundle   v1.Hash // the bundle blob's digest
}

// Attach pushes bundleJSON next to subject as an OCI 1.1 referrer: an
// artifact manifest (artifactType BundleMediaType, empty config, the bundle
// as its one layer) whose subject is the image. A registry without the
// referrers API gets the artifact listed under the "sha256-<hex>" tag
// instead (go-containerregistry keeps that index). created is the
// referrer's creation annotation: the same bundle and time give the same
// referrer digest in every registry.
func Attach(ctx context.Context, subject name.Digest, bundleJSON []byte, created time.Time, opts ...remote.Option) (*Attached, error) {
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	sub, err := remote.Head(subject, opts...)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", subject, err)
	}
	repo := subject.Context()
	bundleLayer := static.NewLayer(bundleJSON, types.MediaType(BundleMediaType))
	empty := static.NewLayer([]byte("{}"), types.MediaType(emptyMediaType))
	for _, l := range []v1.Layer{empty, bundleLayer} {
		if err := remote.WriteLayer(repo, l, opts...); err != nil {
			return nil, fmt.Errorf("push the signature blob to %s: %w", repo, err)
		}
	}
	bd, _ := bundleLayer.Digest()
	ed, _ := empty.Digest()
	var predicate struct {
		DSSE struct {
			Payload []byte `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	_ = json.Unmarshal(bundleJSON, &predicate)
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     string(types.OCIManifestSchema1),
		"artifactType":  BundleMediaType,
		"config":        v1.Descriptor{MediaType: emptyMediaType, Digest: ed, Size: 2},
		"layers":        []v1.Descriptor{{MediaType: BundleMediaType, Digest: bd, Size: int64(len(bundleJSON))}},
		"subject":       v1.Descriptor{MediaType: sub.MediaType, Digest: sub.Digest, Size: sub.Size},
		"annotations": map[string]string{
			AnnotationPredicateType: PredicateType,
			AnnotationCreated:       created.UTC().Format(time.RFC3339),
		},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if err := remote.Put(repo.Digest(h.String()), rawManifest{raw, types.OCIManifestSchema1}, opts...); err != nil {
		return nil, fmt.Errorf("push the signature to %s: %w", repo, err)
	}
	return &Attached{Subject: subject, Referrer: h, Bundle: bd}, nil
}

// SignImage signs subject's digest once and attaches the same bundle to
// every repository in also (and subject's own), so that each registry
// serving the image serves its signature.
func SignImage(ctx context.Context, s Signer, subject name.Digest, also []name.Repository, created time.Time, opts ...remote.Option) ([]Attached, []byte, error) {
	h, err := v1.NewHash(subject.DigestStr())
	if err != nil {
		return nil, nil, errors.Join(errdefs.ErrInvalidArgument, err)
	}
	bundleJSON, err := SignDigest(ctx, s, subject.Context().RepositoryStr(), h)
	if err != nil {
		return nil, nil, err
	}
	var out []Attached
	for _, r := range append([]name.Repository{subject.Context()}, also...) {
		a, err := Attach(ctx, r.Digest(subject.DigestStr()), bundleJSON, created, opts...)
		if err != nil {
			return out, bundleJSON, err
		}
		out = append(out, *a)
	}
	return out, bundleJSON, nil
}

type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }
