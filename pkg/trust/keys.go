package trust

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/containerd/errdefs"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature"
)

// GenerateKey makes an ECDSA P-256 key pair and returns it PEM-encoded: the
// private key as unencrypted PKCS #8 ("PRIVATE KEY"), the public key as
// PKIX ("PUBLIC KEY"). Keep the private one mode 0600.
func GenerateKey() (privPEM, pubPEM []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate an ECDSA P-256 key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, fmt.Errorf("encode the private key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("encode the public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), nil
}

// ParsePrivateKey reads a PEM private key: PKCS #8 ("PRIVATE KEY"), SEC 1
// ("EC PRIVATE KEY") or PKCS #1 ("RSA PRIVATE KEY"). Encrypted keys (such as
// cosign's) are not read: export them unencrypted into a file only the
// signer can read.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("no PEM block found (want a \"PRIVATE KEY\" block, e.g. from `occ-sign generate-key`)")
	}
	var k any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "ENCRYPTED PRIVATE KEY", "ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY":
		return nil, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("the key is encrypted (%s): export it unencrypted as PKCS #8 into a file only the signer can read", b.Type))
	default:
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("PEM block %q is not a private key", b.Type))
	}
	if err != nil {
		return nil, fmt.Errorf("parse the %s: %w", b.Type, errors.Join(errdefs.ErrInvalidArgument, err))
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("a %T cannot sign", k))
	}
	return s, nil
}

// LoadPrivateKey reads ParsePrivateKey's formats from a file.
func LoadPrivateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the signing key: %w", err)
	}
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return k, nil
}

// ParsePublicKey reads a PEM public key ("PUBLIC KEY", PKIX).
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("no PEM block found (want a \"PUBLIC KEY\" block, e.g. the .pub file of `occ-sign generate-key`)")
	}
	if b.Type != "PUBLIC KEY" {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("PEM block %q is not a public key (want \"PUBLIC KEY\")", b.Type))
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse the public key: %w", errors.Join(errdefs.ErrInvalidArgument, err))
	}
	return k, nil
}

// LoadPublicKey reads a PEM public key from a file.
func LoadPublicKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the public key: %w", err)
	}
	k, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return k, nil
}

// KeyID is a public key's fingerprint: the hex SHA-256 of its PKIX DER
// encoding. Key-signed bundles carry it as their key hint.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encode the public key: %w", err)
	}
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:]), nil
}

// Keypair adapts a crypto.Signer to sigstore-go's sign.Keypair, with the
// algorithm Sigstore uses by default for the key's type (ECDSA P-256 with
// SHA-256 for the keys GenerateKey makes) and KeyID as its hint.
type Keypair struct {
	signer crypto.Signer
	alg    signature.AlgorithmDetails
	hint   []byte
}

var _ sign.Keypair = (*Keypair)(nil)

// NewKeypair wraps signer.
func NewKeypair(signer crypto.Signer) (*Keypair, error) {
	alg, err := signature.GetDefaultAlgorithmDetails(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("key type %T: %w", signer.Public(), errors.Join(errdefs.ErrNotImplemented, err))
	}
	id, err := KeyID(signer.Public())
	if err != nil {
		return nil, err
	}
	return &Keypair{signer: signer, alg: alg, hint: []byte(id)}, nil
}

func (k *Keypair) GetHashAlgorithm() protocommon.HashAlgorithm { return k.alg.GetProtoHashType() }
func (k *Keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return k.alg.GetSignatureAlgorithm()
}
func (k *Keypair) GetHint() []byte                { return k.hint }
func (k *Keypair) GetPublicKey() crypto.PublicKey { return k.signer.Public() }

func (k *Keypair) GetKeyAlgorithm() string {
	switch k.alg.GetKeyType() {
	case signature.ECDSA:
		return "ECDSA"
	case signature.RSA:
		return "RSA"
	case signature.ED25519:
		return "ED25519"
	}
	return ""
}

func (k *Keypair) GetPublicKeyPem() (string, error) {
	der, err := x509.MarshalPKIXPublicKey(k.signer.Public())
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// SignData signs data's digest (or data itself for pure Ed25519) and
// returns the signature and what was signed.
func (k *Keypair) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	hf := k.alg.GetHashType()
	msg := data
	if hf != crypto.Hash(0) {
		h := hf.New()
		h.Write(data)
		msg = h.Sum(nil)
	}
	sig, err := k.signer.Sign(rand.Reader, msg, hf)
	if err != nil {
		return nil, nil, fmt.Errorf("sign: %w", err)
	}
	return sig, msg, nil
}
