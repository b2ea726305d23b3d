package trust_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/opencode-cloud/occ/pkg/trust"
	"github.com/opencode-cloud/occ/pkg/trust/trusttest"
)

// BenchmarkVerify is what a pull adds for the signature: the referrers
// listing, the referrer manifest, the bundle and its verification, against
// an in-memory registry (no network latency), with a key and keyless.
func BenchmarkVerify(b *testing.B) {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.WithReferrersSupport(true)))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, _ := name.ParseReference(host+"/occ-sandbox:0.1.0", name.Insecure)

	priv, pub, _ := trust.GenerateKey()
	k, _ := trust.ParsePrivateKey(priv)
	kp, _ := trust.NewKeypair(k)
	pk, _ := trust.ParsePublicKey(pub)
	vs, err := trusttest.New()
	if err != nil {
		b.Fatal(err)
	}
	const id, iss = "https://github.com/opencode-cloud/occ/.github/workflows/release.yml@refs/tags/v0.1.0", "https://token.actions.githubusercontent.com"
	for _, bc := range []struct {
		name   string
		signer func() trust.Signer
		policy trust.Policy
	}{
		{"key", func() trust.Signer { return trust.Signer{Keypair: kp} }, trust.Policy{PublicKey: pk}},
		{"keyless", func() trust.Signer {
			s, err := vs.Signer(id, iss, time.Now().Add(time.Minute))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}, trust.Policy{Issuer: iss, Identity: `https://github\.com/opencode-cloud/occ/.+`, TrustedMaterial: vs}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			// A fresh index per case, so each has one signature.
			idx, err := random.Index(1024, 1, 2)
			if err != nil {
				b.Fatal(err)
			}
			if err := remote.WriteIndex(ref, idx); err != nil {
				b.Fatal(err)
			}
			d, _ := idx.Digest()
			dig := ref.Context().Digest(d.String())
			if _, _, err := trust.SignImage(context.Background(), bc.signer(), dig, nil, time.Unix(0, 0)); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := bc.policy.Verify(context.Background(), dig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
