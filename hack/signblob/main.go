// Command signblob signs and verifies the release's checksums file as a
// Sigstore bundle (internal/blobsign, sigstore-go):
//
//	signblob keygen PRIVATE.key PUBLIC.pub               a throw-away ECDSA P-256 key pair
//	signblob sign -key PRIVATE.key -bundle OUT FILE      key-based (make release-snapshot; offline)
//	signblob sign -keyless -bundle OUT FILE              Fulcio + Rekor with the GitHub Actions OIDC token
//	                                                     (-key keyless says the same)
//	                                                     (or -identity-token TOKEN; -fulcio, -rekor URLs)
//	signblob verify -key PUBLIC.pub -bundle B FILE
//	signblob verify -identity-regexp RE [-issuer URL] [-trusted-root JSON] -bundle B FILE
//	                                                     keyless: the certificate's identity, Sigstore's
//	                                                     public-good trusted root (TUF) unless given
//
// cosign verify-blob --bundle B reads the same bundles.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"

	"github.com/opencode-cloud/occ/internal/blobsign"
)

func main() {
	err := run(context.Background(), os.Args[1:])
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "signblob:", err)
		os.Exit(1)
	}
}

type usageError string

func (u usageError) Error() string { return string(u) }

const usage = usageError("usage: signblob keygen PRIVATE PUBLIC | sign (-key PRIVATE | -keyless) -bundle OUT FILE | verify (-key PUBLIC | -identity-regexp RE) -bundle B FILE")

func run(ctx context.Context, args []string) error {
	if len(args) < 1 {
		return usage
	}
	switch args[0] {
	case "keygen":
		if len(args) != 3 {
			return usage
		}
		return blobsign.GenerateKey(args[1], args[2])
	case "sign":
		return signCmd(ctx, args[1:])
	case "verify":
		return verifyCmd(args[1:])
	}
	return usage
}

func signCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	keyPath := fs.String("key", "", `ECDSA P-256 private key (PEM), or "keyless"`)
	keyless := fs.Bool("keyless", false, "sign with a Fulcio certificate for the OIDC identity, logged in Rekor")
	token := fs.String("identity-token", "", "OIDC token for keyless signing (default: GitHub Actions')")
	fulcio := fs.String("fulcio", blobsign.PublicFulcio, "Fulcio URL")
	rekor := fs.String("rekor", blobsign.PublicRekor, "Rekor URL")
	out := fs.String("bundle", "", "where to write the bundle")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *keyPath == "keyless" { // for configs that can only fill in a value (.goreleaser.yaml's signs)
		*keyPath, *keyless = "", true
	}
	if fs.NArg() != 1 || *out == "" || (*keyPath == "") == !*keyless {
		return errors.New("sign needs exactly one of -key and -keyless, -bundle OUT and one FILE")
	}
	var data []byte
	var err error
	if *keyless {
		if *token == "" {
			if *token, err = githubActionsToken(ctx); err != nil {
				return err
			}
		}
		data, err = blobsign.Sign(ctx, fs.Arg(0), nil, &blobsign.KeylessOptions{IDToken: *token, FulcioURL: *fulcio, RekorURL: *rekor})
	} else {
		key, lerr := blobsign.LoadKey(*keyPath)
		if lerr != nil {
			return lerr
		}
		data, err = blobsign.Sign(ctx, fs.Arg(0), key, nil)
	}
	if err != nil {
		return err
	}
	return os.WriteFile(*out, data, 0o644)
}

// githubActionsToken asks GitHub Actions for an OIDC token with the
// audience Sigstore expects (the job needs permissions: id-token: write).
func githubActionsToken(ctx context.Context) (string, error) {
	reqURL, reqToken := os.Getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), os.Getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	if reqURL == "" || reqToken == "" {
		return "", errors.New("no OIDC token: outside GitHub Actions give -identity-token, inside it the job needs permissions: id-token: write")
	}
	u, err := url.Parse(reqURL)
	if err != nil {
		return "", fmt.Errorf("ACTIONS_ID_TOKEN_REQUEST_URL: %w", err)
	}
	q := u.Query()
	q.Set("audience", "sigstore")
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "bearer "+reqToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("ask GitHub Actions for an OIDC token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("ask GitHub Actions for an OIDC token: %s", resp.Status)
	}
	var body struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Value == "" {
		return "", fmt.Errorf("GitHub Actions' OIDC answer: %v", err)
	}
	return body.Value, nil
}

func verifyCmd(args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	keyPath := fs.String("key", "", "the public key (PEM) of a key-based bundle")
	sanRE := fs.String("identity-regexp", "", "keyless: regular expression the certificate's identity must match")
	issuer := fs.String("issuer", blobsign.GitHubIssuer, "keyless: the OIDC issuer")
	trustedRoot := fs.String("trusted-root", "", "keyless: trusted root JSON (default: Sigstore's public good, through TUF)")
	bundlePath := fs.String("bundle", "", "the bundle")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if fs.NArg() != 1 || *bundlePath == "" || (*keyPath == "") == (*sanRE == "") {
		return errors.New("verify needs exactly one of -key and -identity-regexp, -bundle B and one FILE")
	}
	b, err := blobsign.LoadBundle(*bundlePath)
	if err != nil {
		return err
	}
	var trusted root.TrustedMaterial
	var identity *blobsign.Identity
	switch {
	case *keyPath != "":
		trusted, err = blobsign.PublicKeyMaterial(*keyPath)
	case *trustedRoot != "":
		trusted, err = root.NewTrustedRootFromPath(*trustedRoot)
	default:
		trusted, err = root.FetchTrustedRootWithOptions(tuf.DefaultOptions())
	}
	if err != nil {
		return err
	}
	if *sanRE != "" {
		identity = &blobsign.Identity{SANRegexp: *sanRE, Issuer: *issuer}
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := blobsign.Verify(b, f, trusted, identity); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "signblob: %s: the signature in %s verifies\n", fs.Arg(0), *bundlePath)
	return nil
}
