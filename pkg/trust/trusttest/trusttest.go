// Package trusttest signs images keylessly against sigstore-go's virtual
// Sigstore (pkg/testing/ca: a Fulcio, Rekor and TSA in memory), offline,
// for tests of pkg/trust and of what uses it.
package trusttest

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"

	"github.com/opencode-cloud/occ/pkg/trust"
)

// Sigstore is a virtual Sigstore; it is also the trusted material to
// verify against (trust.Policy.TrustedMaterial).
type Sigstore struct {
	*ca.VirtualSigstore
}

// New makes a virtual Sigstore.
func New() (*Sigstore, error) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		return nil, err
	}
	return &Sigstore{vs}, nil
}

// Signer returns a keyless signer for identity and issuer: a leaf
// certificate valid from now for 10 minutes, and a Rekor entry integrated
// at logAt (outside the certificate's validity: an expired certificate).
func (s *Sigstore) Signer(identity, issuer string, logAt time.Time) (trust.Signer, error) {
	cert, priv, err := s.GenerateLeafCert(identity, issuer)
	if err != nil {
		return trust.Signer{}, err
	}
	kp, err := trust.NewKeypair(priv.(crypto.Signer))
	if err != nil {
		return trust.Signer{}, err
	}
	return trust.Signer{
		Keypair:             kp,
		CertificateProvider: staticCert{cert},
		Transparency:        []sign.Transparency{&rekor{vs: s.VirtualSigstore, cert: cert, at: logAt}},
	}, nil
}

type staticCert struct{ c *x509.Certificate }

func (s staticCert) GetCertificate(context.Context, sign.Keypair, *sign.CertificateProviderOptions) ([]byte, error) {
	return s.c.Raw, nil
}

// rekor logs a DSSE bundle in the virtual Rekor: an entry with an
// inclusion proof and a signed entry timestamp.
type rekor struct {
	vs   *ca.VirtualSigstore
	cert *x509.Certificate
	at   time.Time
}

func (r *rekor) GetTransparencyLogEntry(_ context.Context, _ []byte, b *protobundle.Bundle) error {
	env := b.GetDsseEnvelope()
	if env == nil || len(env.Signatures) != 1 {
		return fmt.Errorf("trusttest: want a DSSE bundle with one signature")
	}
	sig := env.Signatures[0].Sig
	de := &dsse.Envelope{PayloadType: env.PayloadType, Payload: base64.StdEncoding.EncodeToString(env.Payload),
		Signatures: []dsse.Signature{{KeyID: env.Signatures[0].Keyid, Sig: base64.StdEncoding.EncodeToString(sig)}}}
	entry, err := r.vs.GenerateTlogEntry(r.cert, de, sig, r.at.Unix(), true)
	if err != nil {
		return err
	}
	tle := entry.TransparencyLogEntry()
	logID, err := r.vs.RekorLogID()
	if err != nil {
		return err
	}
	set, err := r.vs.RekorSignPayload(tlog.RekorPayload{Body: base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
		IntegratedTime: r.at.Unix(), LogIndex: tle.LogIndex, LogID: logID})
	if err != nil {
		return err
	}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	tle.KindVersion = &protorekor.KindVersion{Kind: "dsse", Version: "0.0.1"}
	b.VerificationMaterial.TlogEntries = append(b.VerificationMaterial.TlogEntries, tle)
	return nil
}
