package trust

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestKeys(t *testing.T) {
	priv, pub, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	cases := []struct {
		name    string
		data    []byte
		public  bool
		wantErr func(error) bool
		text    string
	}{
		{name: "pkcs8", data: priv},
		{name: "sec1", data: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})},
		{name: "public", data: pub, public: true},
		{name: "not pem", data: []byte("hello"), wantErr: errdefs.IsInvalidArgument, text: "no PEM block"},
		{name: "encrypted", data: pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: []byte{1}}), wantErr: errdefs.IsNotImplemented, text: "unencrypted"},
		{name: "public as private", data: pub, wantErr: errdefs.IsInvalidArgument, text: "not a private key"},
		{name: "private as public", data: priv, public: true, wantErr: errdefs.IsInvalidArgument, text: "not a public key"},
		{name: "garbage der", data: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2}}), wantErr: errdefs.IsInvalidArgument, text: "parse"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.public {
				_, err = ParsePublicKey(tc.data)
			} else {
				k, perr := ParsePrivateKey(tc.data)
				err = perr
				if err == nil {
					kp, kerr := NewKeypair(k)
					if kerr != nil {
						t.Fatal(kerr)
					}
					sig, msg, serr := kp.SignData(context.Background(), []byte("x"))
					if serr != nil || !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), msg, sig) {
						t.Fatalf("sign: %v", serr)
					}
				}
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !tc.wantErr(err) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %v, want one with %q", err, tc.text)
			}
		})
	}
}

func TestPolicyNeedsSigner(t *testing.T) {
	ref, _ := name.NewDigest("example.com/x@sha256:" + strings.Repeat("a", 64))
	for _, p := range []Policy{{}, {Issuer: "https://issuer"}, {Identity: ".*"}} {
		if _, err := p.Verify(context.Background(), ref); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%+v: %v, want an invalid-argument error before any request", p, err)
		}
	}
	if _, err := (Policy{Issuer: "i", Identity: "("}).Verify(context.Background(), ref); err == nil || !strings.Contains(err.Error(), "not a regular expression") {
		t.Errorf("bad regexp: %v", err)
	}
	if _, err := (Policy{}).Check(context.Background(), "sometimes", ref); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad mode: %v", err)
	}
}

func TestEmbeddedTrustedRoot(t *testing.T) {
	tr, err := EmbeddedTrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 || len(tr.RekorLogs()) == 0 {
		t.Errorf("embedded root lacks Fulcio CAs or Rekor logs")
	}
}
