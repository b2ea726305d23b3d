//go:build integration

package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencode-cloud/occ/pkg/build"
)

// Builds behind a TLS-intercepting proxy: the extra CA certificates reach
// the steps that mount the extra_ca secret, and nothing of them stays in the
// image.
func TestBuildExtraCASecret(t *testing.T) {
	e := btSetup(t)
	w := e.workers[0] // the containerd worker: the secret plumbing is the client's, not the worker's
	ctx := btContext(t, 5*time.Minute)
	rt := btRuntime(t, ctx, e, w.namespace)
	d := btDaemon(t, ctx, w.address)
	store := rt.ImageStore()
	name := btImageName(t)
	t.Cleanup(func() { _ = store.DeleteImage(ctx, name) })

	caDir := t.TempDir()
	var want []string
	for i, cn := range []string{"proxy-a", "proxy-b"} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		want = append(want, strings.Split(string(p), "\n")[1]) // a line of the certificate's base64
		if err := os.WriteFile(filepath.Join(caDir, cn+".crt"), p, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The step copies what it saw into the image on purpose (a count, and
	// whether a line of the certificate was there), then checks the
	// secret's mount point; the image must not hold the secret itself.
	nonce := btNonce()
	dir := btWriteContext(t, e.registry, `RUN --mount=type=secret,id=extra_ca,required=true \
    echo `+nonce+` >/nonce && grep -c 'BEGIN CERTIFICATE' /run/secrets/extra_ca >/ca-count && \
    if grep -q '`+want[1]+`' /run/secrets/extra_ca; then echo yes; else echo no; fi >/ca-has-b
CMD ["true"]`)
	bctx, err := build.DirContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := build.Build(ctx, d, store, build.Options{Context: bctx, Name: name, SystemCADir: caDir})
	if err != nil {
		t.Fatalf("build with the extra CA secret: %v", err)
	}
	if res.ExtraCA == nil || res.ExtraCA.Count != 2 || len(res.ExtraCA.Files) != 2 {
		t.Fatalf("Result.ExtraCA = %+v, want 2 certificates from 2 files", res.ExtraCA)
	}
	out := btRun(t, ctx, e, rt, name, "sh", "-c", "cat /ca-count /ca-has-b; if [ -e /run/secrets/extra_ca ]; then echo secret-left; else echo no-secret; fi; grep -rl '"+want[0]+"' /bin /etc /root /tmp /var /run /ca-count /ca-has-b 2>/dev/null || echo no-copy")
	if got := strings.Fields(out); strings.Join(got, " ") != "2 yes no-secret no-copy" {
		t.Fatalf("in the image: %q, want the count 2, yes, no-secret and no-copy", out)
	}

	// Without the secret a build that requires it fails, which proves the
	// secret came from occ and not from somewhere else.
	_, err = build.Build(ctx, d, store, build.Options{Context: bctx, Name: name, SystemCADir: build.NoSystemCA, NoCache: true})
	if err == nil || !strings.Contains(err.Error(), "extra_ca") {
		t.Fatalf("build without a CA and a required secret: %v, want an error naming extra_ca", err)
	}
}
