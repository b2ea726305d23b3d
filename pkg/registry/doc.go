// Package registry owns the prebuilt path: resolving the sandbox image across
// the configured repositories, choosing the platform, verifying every
// manifest and blob digest while streaming, retrying with backoff and
// resuming, falling back to the next repository, and writing the verified
// blobs into containerd's content store under a lease before recording the
// image with its provenance.
//
// It depends on pkg/meta and on containerd's core interfaces (content,
// images, leases), never on pkg/build.
package registry
