// Package trust signs sandbox images and verifies their signatures.
//
// A signature is a Sigstore bundle (media type
// application/vnd.dev.sigstore.bundle.v0.3+json) holding a DSSE envelope
// around an in-toto statement whose subject is the image index's digest, the
// form cosign v3 writes. The bundle is attached to the image as an OCI 1.1
// referrer: an artifact manifest whose subject is the index, found through
// the registry's referrers API or, on registries without it, the
// "sha256-<hex>" referrers tag (go-containerregistry maintains both).
//
// Two ways to sign, two ways to verify:
//   - keyless: a short-lived Fulcio certificate for the signer's OIDC
//     identity (a release workflow's), logged in Rekor; verified against a
//     trusted root (the Sigstore public-good root is embedded, see
//     EmbeddedTrustedRoot) and an expected issuer and identity;
//   - key: a key pair held by whoever runs a mirror; verified against the
//     public key file alone, offline.
//
// Key loading (LoadPrivateKey, LoadPublicKey, NewKeypair) is independent of
// images, so a blob signer (release checksums) can use it too.
package trust
