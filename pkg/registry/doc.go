// Package registry owns the prebuilt path: resolving the sandbox image across
// the configured repositories, choosing the platform, verifying every
// manifest and blob digest while streaming, retrying with backoff and
// resuming, falling back to the next repository, and writing the verified
// blobs into containerd's content store under a lease before recording the
// image with its provenance.
//
// It depends on pkg/meta and on containerd's core interfaces (content,
// images, leases), never on pkg/build or on a client connection; unpacking
// comes in through the small Unpacker interface (pkg/runtime implements it
// with containerd's own unpacker).
//
// How a Pull goes:
//
//   - Resolution: Source.Repositories in order, each with Source.Tag, or
//     with Source.Digest when set; then the digest is the authority and any
//     repository may serve it, byte for byte. Credentials come from
//     authn.DefaultKeychain (the Docker config and its credential helpers);
//     plain HTTP is used only for loopback registries and those given with
//     WithInsecureRegistries. From an index the best linux/<arch> entry is
//     taken, never an attestation (unknown/unknown).
//   - HTTP: go-containerregistry does the handshake (ping, token) once per
//     repository (transport.NewWithContext); manifests and indexes are
//     fetched with its remote.Get on that transport, which checks a
//     by-digest manifest against its digest, and the signature verifier
//     reads referrers and bundles with its remote package. Blob GETs are
//     occ's own (fetch.go), on the same transport, for what remote cannot
//     do: ranged resume, read progress, and the streaming unpack
//     (stream.go). The platform is chosen with containerd's platforms
//     matcher, the one its unpacker and runtime use (it also takes older
//     variants: arm/v6 on an arm/v7 host), not go-containerregistry's
//     exact match.
//   - Requests: transient failures (timeouts, resets, EOF mid-body,
//     408/429/5xx) are retried per request with backoff 1s, 2s, 4s (or the
//     server's Retry-After), blobs resuming with Range where the registry
//     supports it; 401/403/404 and digest mismatches are not retried on the
//     same repository. A repository that fails for good is reported with an
//     EventFallback and the next one is tried; PullError names every
//     repository tried and why it failed.
//   - Large blobs (16 MiB and more) come in parallel 2 MiB byte ranges,
//     written in order into the same pipeline, when the registry serves
//     ranges and the first range came slower than 200 MB/s (ranged.go,
//     WithRangedFetch); each range is retried and resumed on its own.
//   - Storage: everything is written under a containerd lease that is always
//     deleted at the end. Blobs go into the content store with their
//     expected digests (the store verifies them on commit), manifests and
//     indexes with containerd's GC reference labels. Layers are fetched in
//     parallel (WithConcurrency) and applied by the Unpacker as they land.
//     Blobs already in the store are not downloaded; an image whose record
//     already names the resolved digest and is unpacked costs one manifest
//     request.
//   - Record: only when everything is stored and unpacked is the local image
//     record created or updated: WithName, by default meta.CurrentImageName
//     ("opencode-cloud.local/sandbox:current"), whichever repository served
//     it; `occ update` pulls to a staging name and keeps
//     meta.PreviousImageName for rollback. The record carries
//     meta.Provenance labels; WithStateFile then writes the image-state
//     sidecar. On any failure no record is created or changed.
package registry
