package registry

import (
	"context"
	"crypto"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/opencontainers/go-digest"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/trust"
	"github.com/opencode-cloud/occ/pkg/trust/trusttest"
)

const (
	testIssuer   = "https://token.actions.githubusercontent.com"
	testIdentity = "https://github.com/opencode-cloud/occ/.github/workflows/release.yml@refs/tags/v0.1.0"
	identityRE   = `https://github\.com/opencode-cloud/occ/\.github/workflows/release\.yml@refs/tags/v.+`
)

// policyVerifier is occ's adapter (cmd/occ) in small: a trust policy
// under a mode.
type policyVerifier struct {
	p    trust.Policy
	mode string
}

func (v policyVerifier) VerifyImage(ctx context.Context, req VerifyRequest) (*meta.Verification, error) {
	return v.p.Check(ctx, v.mode, req.Digest, req.Remote...)
}

// signedIndex is a two-platform index pushed to repo:tag.
func signedIndex(t *testing.T, reg *faultRegistry, repo string) (v1.ImageIndex, name.Digest) {
	t.Helper()
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: testImage(t, "0.1.0"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: testImage(t, "0.1.0"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	r := reg.pushIndex(t, repo+":0.1.0", idx)
	d, _ := idx.Digest()
	ref, err := name.NewDigest(r+"@"+d.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return idx, ref
}

func sign(t *testing.T, s trust.Signer, ref name.Digest) {
	t.Helper()
	if _, _, err := trust.SignImage(context.Background(), s, ref, nil, time.Unix(1700000000, 0)); err != nil {
		t.Fatalf("sign %s: %v", ref, err)
	}
}

func keySigner(t *testing.T) (trust.Signer, crypto.PublicKey) {
	t.Helper()
	priv, pub, err := trust.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := trust.ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := trust.NewKeypair(k)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := trust.ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return trust.Signer{Keypair: kp}, pk
}

// TestPullVerify: the signature cases of issue 14, each through a whole
// pull: the outcome, and nothing recorded (no record, no state file, no
// lease) where the pull was refused.
func TestPullVerify(t *testing.T) {
	vs, err := trusttest.New()
	if err != nil {
		t.Fatal(err)
	}
	keyless := trust.Policy{Issuer: testIssuer, Identity: identityRE, TrustedMaterial: vs}
	now := time.Now()

	type setup func(t *testing.T, reg *faultRegistry) (trust.Policy, name.Digest)
	cases := []struct {
		name      string
		referrers bool // the registry has the referrers API
		setup     setup
		mode      string
		wantErr   func(error) bool
		wantText  string
		verified  bool
	}{
		{name: "valid keyless signature", referrers: true, mode: trust.ModeRequire, verified: true,
			setup: func(t *testing.T, reg *faultRegistry) (trust.Policy, name.Digest) {
				_, ref := signedIndex(t, reg, "occ-sandbox")
				s, err := vs.Signer(testIdentity, testIssuer, now.Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				sign(t, s, ref)
				return keyless, ref
			}},
		{name: "valid key signature", referrers: true, mode: trust.ModeRequire, verified: true,
			setup: func(t *testing.T, reg *faultRegistry) (trust.Policy, name.Digest) {
				_, ref := signedIndex(t, reg, "occ-sandbox")
				s, pub := keySigner(t)
				sign(t, s, ref)
				return trust.Policy{PublicKey: pub}, ref
			}},
		{name: "registry without the referrers API (tag fallback)", referrers: false, mode: trust.ModeRequire, verified: true,
			setup: func(t *testing.T, reg *faultRegistry) (trust.Policy, name.Digest) {
				_, ref := signedIndex(t, reg, "occ-sandbox")
				s, pub := keySigner(t)
				sign(t, s, ref)
				return trust.Policy{PublicKey: pub}, ref
			}},
		{name: "keyless without the referrers API", referrers: false, mode: trust.ModeRequire, verified: true,
			setup: func(t *testing.T, reg *faultRegistry) (trust.Policy, name.Digest) {
				_, ref := signedIndex(t, reg, "occ-sandbox")
				s, err := vs.Signer(testIdentity, testIssuer, now.Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				sign(t, s, ref)
				return keyless, ref
			}},
		{name: "signature of another digest", referrers: true, mode: trust.ModeRequire,
			wantErr: errdefs.IsFailedPrecondition, wantText: "artifact digest",
			setup: func(t *testing.T, reg *faultRegistry) (trust.Policy, name.Digest) {
				_, ref := signedIndex(t, reg, "occ-sandbox")
				_, other := signedIndex(t, reg, "other")
				s, pub := keySigner(t)
				// A bundle for the other image, attached to this one.
				oh, _ := v1.NewHash(other.DigestStr())
				b, err := trust.SignDigest(context.Background(), s, "occ-sandbox", oh)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := trust.Attach(context.Background(), ref, b, time.Unix(1700000000, 0)); err != nil {
					t.Fatal(err)
				}
				return trust.Policy{PublicKey: pub}, ref
			}},
		{name: "wrong identity", referrers: true, mode: trust.ModeRequire,
			wantErr: errdefs.IsFailedPrecondition, wantText: "expected SAN value",
			setup: func(t *testing.T, reg *faultRegistry) (trust.Policy, name.Digest) {
				_, ref := signedIndex(t, reg, "occ-sandbox")
				s, err := vs.Signer("https://github.com/someone/fork/.github/workflows/release.yml@refs/tags/v0.1.0", testIssuer, now.Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				sign(t, s, ref)
				return keyless, ref
			}},
		{name: "wrong key", referrers: true, mode: trust.ModeRequire,
			wantErr: errdefs.IsFailedPrecondition, wantText: "public key not found",
			setup: func(t *testing.T, reg *faultRegistry) (trust.Policy, name.Digest) {
				_, ref := signedIndex(t, reg, "occ-sandbox")
				s, _ := keySigner(t)
				sign(t, s, ref)
				_, other := keySigner(t)
				return trust.Policy{PublicKey: other}, ref
			}},
		{name: "expired certificate", referrers: true, mode: trust.ModeRequire,
			wantErr: errdefs.IsFailedPrecondition, wantText: "certificate",
			setup: func(t *testing.T, reg *faultRegistry) (trust.Policy, name.Digest) {
				_, ref := signedIndex(t, reg, "occ-sandbox")
				// Logged 20 minutes after the certificate's 10 minutes ran out.
				s, err := vs.Signer(testIdentity, testIssuer, now.Add(30*time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				sign(t, s, ref)
				return keyless, ref
			}},
		{name: "no signature at all", referrers: true, mode: trust.ModeRequire,
			wantErr: errdefs.IsNotFound, wantText: "has no signature",
			setup: func(t *testing.T, reg *faultRegistry) (trust.Policy, name.Digest) {
				_, ref := signedIndex(t, reg, "occ-sandbox")
				return keyless, ref
			}},
		{name: "no signature, no referrers API", referrers: false, mode: trust.ModeRequire,
			wantErr: errdefs.IsNotFound, wantText: "has no signature",
			setup: func(t *testing.T, reg *faultRegistry) (trust.Policy, name.Digest) {
				_, ref := signedIndex(t, reg, "occ-sandbox")
				return keyless, ref
			}},
		{name: "platform manifest swapped after signing", referrers: true, mode: trust.ModeRequire,
			wantErr: errdefs.IsNotFound, wantText: "has no signature",
			setup: func(t *testing.T, reg *faultRegistry) (trust.Policy, name.Digest) {
				idx, ref := signedIndex(t, reg, "occ-sandbox")
				s, pub := keySigner(t)
				sign(t, s, ref)
				// Replace the amd64 image in the index and move the tag.
				im, _ := idx.IndexManifest()
				swapped := mutate.AppendManifests(
					mutate.RemoveManifests(idx, func(d v1.Descriptor) bool { return d.Digest == im.Manifests[0].Digest }),
					mutate.IndexAddendum{Add: testImage(t, "0.1.0-evil"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
				reg.pushIndex(t, "occ-sandbox:0.1.0", swapped)
				sd, _ := swapped.Digest()
				return trust.Policy{PublicKey: pub}, ref.Context().Digest(sd.String())
			}},
		{name: "no signature under warn", referrers: true, mode: trust.ModeWarn, verified: false,
			setup: func(t *testing.T, reg *faultRegistry) (trust.Policy, name.Digest) {
				_, ref := signedIndex(t, reg, "occ-sandbox")
				return keyless, ref
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := newVerifyRegistry(t, tc.referrers)
			pol, want := tc.setup(t, reg)
			e := newEnv(t)
			state := filepath.Join(t.TempDir(), "image-state.json")
			res, err := e.pull(Source{Repositories: []string{reg.host() + "/occ-sandbox"}, Tag: "0.1.0"}, &recorder{},
				WithVerifier(policyVerifier{pol, tc.mode}), WithStateFile(state))
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("pull succeeded (%+v), want a refusal", res.Provenance.Verification)
				}
				var ve *VerifyError
				if !errors.As(err, &ve) || !tc.wantErr(err) || !strings.Contains(err.Error(), tc.wantText) {
					t.Errorf("error %v (VerifyError %v), want one matching %q", err, ve != nil, tc.wantText)
				}
				t.Logf("refused: %v", err)
				if !strings.Contains(err.Error(), "image_verify") {
					t.Errorf("error does not say how to change the policy: %v", err)
				}
				e.assertClean(t, nil)
				if _, serr := os.Stat(state); !errors.Is(serr, os.ErrNotExist) {
					t.Errorf("state file written after a refusal: %v", serr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Image.Target.Digest.String() != want.DigestStr() {
				t.Errorf("recorded %s, want %s", res.Image.Target.Digest, want.DigestStr())
			}
			v := res.Provenance.Verification
			if v == nil || v.Verified != tc.verified || v.Policy != tc.mode {
				t.Fatalf("verification %+v, want verified=%v under %s", v, tc.verified, tc.mode)
			}
			if tc.verified && (v.BundleDigest == "" || v.Identity == "") {
				t.Errorf("verification %+v lacks the bundle digest or identity", v)
			}
			if !tc.verified && !strings.Contains(v.Problem, "no signature") {
				t.Errorf("warn: problem %q", v.Problem)
			}
			st, err := meta.LoadState(state)
			if err != nil || st.Provenance.Verification == nil || st.Provenance.Verification.BundleDigest != v.BundleDigest {
				t.Errorf("state file: %+v, %v", st, err)
			}
			img, err := e.stores.Images.Get(e.ctx, meta.CurrentImageName)
			if err != nil {
				t.Fatal(err)
			}
			if p, _ := meta.ProvenanceFromLabels(img.Labels); p.Verification == nil || p.Verification.Verified != tc.verified {
				t.Errorf("record labels carry verification %+v", p.Verification)
			}
		})
	}
}

// TestPullVerifyOff: with image_verify off nothing is asked for.
func TestPullVerifyOff(t *testing.T) {
	reg := newVerifyRegistry(t, true)
	signedIndex(t, reg, "occ-sandbox")
	reg.setFault(nil)
	e := newEnv(t)
	res, err := e.pull(Source{Repositories: []string{reg.host() + "/occ-sandbox"}, Tag: "0.1.0"}, &recorder{},
		WithVerifier(policyVerifier{trust.Policy{}, trust.ModeOff}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Provenance.Verification != nil {
		t.Errorf("verification %+v under off", res.Provenance.Verification)
	}
	for _, r := range reg.requests() {
		if strings.Contains(r, "referrers") || strings.Contains(r, "sha256-") {
			t.Errorf("asked for signatures under off: %s", r)
		}
	}
}

// newVerifyRegistry is a faultRegistry with or without the referrers API.
func newVerifyRegistry(t *testing.T, referrers bool) *faultRegistry {
	f := &faultRegistry{inner: ggcrregistry.New(ggcrregistry.Logger(nopLogger()), ggcrregistry.WithReferrersSupport(referrers)), seen: map[string]int{}}
	if !referrers {
		// ggcr's registry answers an unknown path with 404 anyway; make
		// sure, as a registry without the API does.
		inner := f.inner
		f.inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/referrers/") {
				http.NotFound(w, r)
				return
			}
			inner.ServeHTTP(w, r)
		})
	}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

// requiringVerifier is policyVerifier that also says it requires a
// signature (as occ's does under require).
type requiringVerifier struct{ policyVerifier }

func (requiringVerifier) Requires(string) bool { return true }

// TestPullVerifyPinnedLocal: a digest pin already recorded but pulled
// without verification is checked again once a signature is required;
// one recorded verified is taken as it is, without the registry.
func TestPullVerifyPinnedLocal(t *testing.T) {
	reg := newVerifyRegistry(t, true)
	_, ref := signedIndex(t, reg, "occ-sandbox")
	e := newEnv(t)
	src := Source{Repositories: []string{reg.host() + "/occ-sandbox"}, Digest: digestOf(t, ref)}
	if _, err := e.pull(src, &recorder{}, WithVerifier(policyVerifier{trust.Policy{}, trust.ModeOff})); err != nil {
		t.Fatal(err)
	}
	s, pub := keySigner(t)
	_, err := e.pull(src, &recorder{}, WithVerifier(requiringVerifier{policyVerifier{trust.Policy{PublicKey: pub}, trust.ModeRequire}}))
	if err == nil || !errdefs.IsNotFound(err) {
		t.Fatalf("unverified local pin under require: %v, want a refusal (no signature)", err)
	}
	sign(t, s, ref)
	res, err := e.pull(src, &recorder{}, WithVerifier(requiringVerifier{policyVerifier{trust.Policy{PublicKey: pub}, trust.ModeRequire}}))
	if err != nil || res.Provenance.Verification == nil || !res.Provenance.Verification.Verified {
		t.Fatalf("signed pin: %+v, %v", res, err)
	}
	reg.setFault(nil)
	res, err = e.pull(src, &recorder{}, WithVerifier(requiringVerifier{policyVerifier{trust.Policy{PublicKey: pub}, trust.ModeRequire}}))
	if err != nil || !res.UpToDate {
		t.Fatalf("verified local pin: %+v, %v", res, err)
	}
	if r := reg.requests(); len(r) != 0 {
		t.Errorf("a verified local pin asked the registry: %v", r)
	}
}

func digestOf(t *testing.T, ref name.Digest) digest.Digest {
	t.Helper()
	d, err := digest.Parse(ref.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	return d
}
