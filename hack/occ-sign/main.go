// occ-sign signs and verifies sandbox images for hack/publish-sandbox (the
// release's image publisher), with pkg/trust:
//
//	occ-sign generate-key PREFIX                  PREFIX.key (0600) and PREFIX.pub
//	occ-sign sign --key PREFIX.key REPO@DIGEST [MIRROR-REPO...]
//	occ-sign sign --keyless REPO@DIGEST [MIRROR-REPO...]   (GitHub Actions' OIDC identity)
//	occ-sign verify --key PREFIX.pub REPO@DIGEST
//	occ-sign verify --issuer URL --identity REGEX REPO@DIGEST
//
// A signature is one Sigstore bundle, attached to the image in every
// repository named as an OCI 1.1 referrer (or under the referrers tag where
// the registry has no referrers API).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/sign"

	"github.com/opencode-cloud/occ/pkg/meta"
	"github.com/opencode-cloud/occ/pkg/trust"
)

type cli struct {
	Insecure []string `help:"Registries (HOST:PORT) reached over plain HTTP; loopback ones always are." placeholder:"HOST:PORT"`

	GenerateKey generateKeyCmd `cmd:"" help:"Make an ECDSA P-256 key pair: PREFIX.key (mode 0600) and PREFIX.pub."`
	Sign        signCmd        `cmd:"" help:"Sign an image digest and attach the bundle in its repository and in every mirror."`
	Verify      verifyCmd      `cmd:"" help:"Verify an image's signature as occ does; prints what verified as JSON."`
}

type generateKeyCmd struct {
	Prefix string `arg:"" help:"Path prefix of the key files."`
	Force  bool   `help:"Overwrite existing files."`
}

func (c *generateKeyCmd) Run() error {
	priv, pub, err := trust.GenerateKey()
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if c.Force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{c.Prefix + ".key", priv, 0o600}, {c.Prefix + ".pub", pub, 0o644}} {
		fh, err := os.OpenFile(f.path, flags, f.mode)
		if err != nil {
			return fmt.Errorf("write %s: %w (use --force to overwrite)", f.path, err)
		}
		if _, err := fh.Write(f.data); err != nil {
			fh.Close()
			return fmt.Errorf("write %s: %w", f.path, err)
		}
		if err := fh.Close(); err != nil {
			return err
		}
	}
	k, _ := trust.ParsePublicKey(pub)
	id, _ := trust.KeyID(k)
	fmt.Printf("%s.key and %s.pub (key id %s)\n", c.Prefix, c.Prefix, id)
	return nil
}

type signCmd struct {
	Key     string   `help:"Private key file (PEM, unencrypted PKCS #8 or SEC 1)." xor:"mode" placeholder:"FILE"`
	Keyless bool     `help:"Keyless: a Fulcio certificate for the OIDC identity of this job (GitHub Actions: id-token: write), logged in Rekor." xor:"mode"`
	Fulcio  string   `default:"https://fulcio.sigstore.dev" help:"Fulcio URL (keyless)."`
	Rekor   string   `default:"https://rekor.sigstore.dev" help:"Rekor URL (keyless)."`
	TSA     string   `name:"tsa" default:"https://timestamp.sigstore.dev/api/v1/timestamp" help:"Timestamp authority URL (keyless; empty: none)."`
	IDToken string   `name:"id-token" env:"SIGSTORE_ID_TOKEN" help:"OIDC token (default: requested from GitHub Actions)."`
	Created string   `help:"Creation time of the signature referrer: RFC 3339 or Unix seconds (default: $SOURCE_DATE_EPOCH, else now)." placeholder:"TIME"`
	Bundle  string   `help:"Also write the bundle to this file." placeholder:"FILE"`
	Image   string   `arg:"" help:"REPOSITORY@sha256:DIGEST to sign."`
	Mirrors []string `arg:"" optional:"" help:"Further repositories holding the same digest; the same bundle is attached in each."`
}

func (c *signCmd) Run(ctx context.Context, g *cli) error {
	ref, err := name.NewDigest(c.Image, nameOpts(c.Image, g.Insecure)...)
	if err != nil {
		return fmt.Errorf("%q is not REPOSITORY@sha256:DIGEST: %w", c.Image, err)
	}
	var mirrors []name.Repository
	for _, m := range c.Mirrors {
		r, err := name.NewRepository(m, nameOpts(m, g.Insecure)...)
		if err != nil {
			return fmt.Errorf("mirror %q: %w", m, err)
		}
		mirrors = append(mirrors, r)
	}
	created, err := createdTime(c.Created)
	if err != nil {
		return err
	}
	var s trust.Signer
	switch {
	case c.Key != "":
		k, err := trust.LoadPrivateKey(c.Key)
		if err != nil {
			return err
		}
		if s.Keypair, err = trust.NewKeypair(k); err != nil {
			return err
		}
	case c.Keyless:
		tok := c.IDToken
		if tok == "" {
			if tok, err = githubIDToken(ctx); err != nil {
				return err
			}
		}
		kp, err := sign.NewEphemeralKeypair(nil)
		if err != nil {
			return err
		}
		s = trust.Signer{Keypair: kp,
			CertificateProvider: sign.NewFulcio(&sign.FulcioOptions{BaseURL: c.Fulcio, Retries: 3}),
			CertificateOptions:  &sign.CertificateProviderOptions{IDToken: tok},
			Transparency:        []sign.Transparency{sign.NewRekor(&sign.RekorOptions{BaseURL: c.Rekor, Retries: 3})},
		}
		if c.TSA != "" {
			s.TimestampAuthorities = []*sign.TimestampAuthority{sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: c.TSA, Retries: 3})}
		}
	default:
		return errors.New("say how to sign: --key FILE or --keyless")
	}
	start := time.Now()
	att, bundle, err := trust.SignImage(ctx, s, ref, mirrors, created, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return err
	}
	if c.Bundle != "" {
		if err := os.WriteFile(c.Bundle, bundle, 0o644); err != nil {
			return err
		}
	}
	for _, a := range att {
		fmt.Printf("signed %s: referrer %s, bundle %s\n", a.Subject, a.Referrer, a.Bundle)
	}
	fmt.Fprintf(os.Stderr, "signed in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

type verifyCmd struct {
	Key      string `help:"Public key file (PEM)." xor:"mode" placeholder:"FILE"`
	Issuer   string `help:"OIDC issuer of the signing certificate (keyless)." default:"https://token.actions.githubusercontent.com"`
	Identity string `help:"Regular expression the certificate identity must match in full (keyless)." xor:"mode"`
	Image    string `arg:"" help:"REPOSITORY@sha256:DIGEST to verify."`
}

func (c *verifyCmd) Run(ctx context.Context, g *cli) error {
	ref, err := name.NewDigest(c.Image, nameOpts(c.Image, g.Insecure)...)
	if err != nil {
		return fmt.Errorf("%q is not REPOSITORY@sha256:DIGEST: %w", c.Image, err)
	}
	var p trust.Policy
	switch {
	case c.Key != "":
		if p.PublicKey, err = trust.LoadPublicKey(c.Key); err != nil {
			return err
		}
	case c.Identity != "":
		p.Issuer, p.Identity = c.Issuer, c.Identity
	default:
		return errors.New("say what to trust: --key FILE or --identity REGEX")
	}
	start := time.Now()
	v, err := p.Verify(ctx, ref, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return err
	}
	out := struct {
		*meta.Verification
		Milliseconds float64 `json:"milliseconds"`
	}{v, float64(time.Since(start).Microseconds()) / 1000}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func createdTime(s string) (time.Time, error) {
	if s == "" {
		s = os.Getenv("SOURCE_DATE_EPOCH")
	}
	if s == "" {
		return time.Now().UTC(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--created %q: want RFC 3339 or Unix seconds", s)
	}
	return t, nil
}

// nameOpts makes loopback registries and the --insecure ones plain HTTP.
func nameOpts(ref string, insecure []string) []name.Option {
	host, _, _ := strings.Cut(ref, "/")
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" || net.ParseIP(h) != nil && net.ParseIP(h).IsLoopback() {
		return []name.Option{name.Insecure}
	}
	for _, i := range insecure {
		if i == host {
			return []name.Option{name.Insecure}
		}
	}
	return nil
}

// githubIDToken asks GitHub Actions for an OIDC token with audience
// "sigstore" (the job needs `permissions: id-token: write`).
func githubIDToken(ctx context.Context) (string, error) {
	u, tok := os.Getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), os.Getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	if u == "" || tok == "" {
		return "", errors.New("keyless signing needs an OIDC token: run in GitHub Actions with `permissions: id-token: write`, or pass --id-token / $SIGSTORE_ID_TOKEN")
	}
	pu, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	q := pu.Query()
	q.Set("audience", "sigstore")
	pu.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pu.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("request the OIDC token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("request the OIDC token: %s", resp.Status)
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Value == "" {
		return "", errors.New("the OIDC token response has no value")
	}
	return v.Value, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var c cli
	k := kong.Parse(&c, kong.Name("occ-sign"), kong.Description("Sign and verify occ sandbox images (pkg/trust)."),
		kong.BindTo(ctx, (*context.Context)(nil)), kong.Bind(&c))
	if err := k.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "occ-sign: %v\n", err)
		os.Exit(1)
	}
}
