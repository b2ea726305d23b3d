//go:build integration

package integration

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/trust"
)

// testKey makes a signing key pair; the public key is written to a file
// for image_verify_key.
func testKey(t *testing.T) (trust.Signer, string) {
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
	path := filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(path, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return trust.Signer{Keypair: kp}, path
}

// TestCommandsVerify: occ image pull against the testbed registry (crane,
// which has no referrers API: the signature is found through the
// referrers tag) under image_verify require with a key: a signed image is
// recorded with what verified; an unsigned one, one signed by another
// key, and one whose tag moved to other content after signing are
// refused and change nothing; warn lets an unsigned one through, saying
// so; doctor says the same before any pull.
func TestCommandsVerify(t *testing.T) {
	e := rtTestbed(t)
	repo := e.registry + "/test/signed-app"
	signedDigest := pushAppVariant(t, repo+":signed", func(c *v1.Config) { c.Labels[meta.ImageVersionLabel] = meta.Version })
	pushAppVariant(t, repo+":unsigned", func(c *v1.Config) { c.Env = append(c.Env, "UNSIGNED=1") })
	pushAppVariant(t, repo+":other-key", func(c *v1.Config) { c.Env = append(c.Env, "OTHER_KEY=1") })
	signer, pubPath := testKey(t)
	other, _ := testKey(t)
	sign := func(s trust.Signer, tag string) {
		t.Helper()
		ref, err := name.ParseReference(repo+":"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		d := headDigest(t, ref)
		if _, _, err := trust.SignImage(context.Background(), s, ref.Context().Digest(d), nil, time.Now()); err != nil {
			t.Fatalf("sign %s: %v", tag, err)
		}
	}
	sign(signer, "signed")
	sign(other, "other-key")

	f := newCmdFixture(t, func(c *meta.Config) {
		c.ImageRepositories = []string{repo}
		c.ImageTag = "signed"
		c.ImageVerify = meta.VerifyRequire
		c.ImageVerifyKey = pubPath
	})
	r := f.mustOK("doctor")
	wantContains(t, "doctor", r.stdout, "[ok  ] registry "+repo, "signature verified: key ")

	r = f.mustOK("-v", "image", "pull")
	wantContains(t, "pull of the signed image", r.stderr, "Signature verified: key ", "Signature check of ")
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.Contains(l, "Signature check of ") {
			t.Logf("%s", strings.TrimSpace(l))
		}
	}
	r = f.mustOK("image", "inspect")
	wantContains(t, "inspect", r.stdout, signedDigest, "verified under image_verify require", "Bundle digest", "Signed by")
	state, err := os.ReadFile(f.paths.StateFile())
	if err != nil || !bytes.Contains(state, []byte(`"bundle_digest"`)) {
		t.Fatalf("state file after a verified pull: %v\n%s", err, state)
	}

	refused := func(what, ref string, wants ...string) {
		t.Helper()
		r := f.occ("image", "pull", ref)
		if r.code == 0 {
			t.Fatalf("%s: pull succeeded under require: %s", what, r)
		}
		wantContains(t, what, r.stderr, append(wants, "nothing was recorded", "image_verify")...)
		after, err := os.ReadFile(f.paths.StateFile())
		if err != nil || !bytes.Equal(after, state) {
			t.Errorf("%s: the state file changed after a refused pull", what)
		}
		r = f.mustOK("image", "inspect")
		wantContains(t, what+": inspect", r.stdout, signedDigest)
	}
	refused("unsigned", repo+":unsigned", "has no signature")
	refused("signed by another key", repo+":other-key", "public key not found")
	// The signed tag moved to other content (a swapped image): its new
	// digest carries no signature.
	pushAppVariant(t, repo+":signed", func(c *v1.Config) { c.Env = append(c.Env, "SWAPPED=1") })
	refused("tag moved after signing", repo+":signed", "has no signature")
	r = f.occ("doctor")
	wantContains(t, "doctor after the swap", r.stdout, "[FAIL] registry "+repo, "signature refused (image_verify require)")

	// warn: pulled, recorded as not verified, and said.
	f.cfg.ImageVerify = meta.VerifyWarn
	f.saveConfig()
	r = f.mustOK("image", "pull", repo+":unsigned")
	wantContains(t, "warn", r.stderr, "is NOT verified (image_verify warn lets it through)", "has no signature")
	r = f.mustOK("image", "inspect")
	wantContains(t, "warn: inspect", r.stdout, "NOT verified (image_verify warn)")
}

func headDigest(t *testing.T, ref name.Reference) string {
	t.Helper()
	d, err := remote.Head(ref)
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest.String()
}
