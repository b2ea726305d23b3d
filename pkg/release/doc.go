// Package release owns occ's own releases as a self-update sees them:
// where a release's files are (a GitHub-style releases URL: the files of
// version V under download/vV/, the newest under latest/download/), which
// archive is this platform's, fetching checksums.txt and its Sigstore
// bundle, verifying the bundle (the release workflow's keyless identity
// for that tag, or a public key) and then the archive against
// checksums.txt, taking the occ binary out of the archive, and replacing
// the running binary atomically with a way back (occ.old) until the new one
// has run.
//
// It imports no containerd or BuildKit package: pkg/ops decides when to
// update and what to offer afterwards (occ restart).
package release
