// Package build owns the build-from-source path: finding a BuildKit daemon,
// the sandbox build context embedded in the binary, solve options (cache
// control, build args, annotations), landing the result in containerd and
// BuildKit progress.
//
// It depends on pkg/meta, the BuildKit client and containerd's core types;
// never on pkg/registry. What it needs from containerd comes in as an
// ImageStore (pkg/runtime's (*Client).ImageStore() implements it).
//
// Flow of Build:
//
//   - Connect tries cfg.BuildkitAddresses() in order and reads the default
//     worker's labels: executor (containerd or oci), snapshotter, and for a
//     containerd worker its namespace and containerd UUID.
//   - The context (embedded, served from memory through IOFS, or a
//     directory) is sent over BuildKit's filesync session: no tarball.
//     The dockerfile.v0 frontend gets OCC_VERSION (always meta.Version),
//     BASE_IMAGE, SOURCE_DATE_EPOCH and the user's build args.
//   - The image lands in containerd in one of three ways (Landing): a
//     containerd worker in occ's namespace on the same daemon exports it
//     under a temporary name (opencode-cloud.local/sandbox:build-<random>)
//     and unpacks it itself (LandDirect); otherwise BuildKit's oci exporter
//     writes the blobs into containerd's content store over the session,
//     under a lease, with no record at all until the end (LandContentStore);
//     or, with Options.OCIArchive, the oci exporter's tarball is streamed
//     through a pipe into containerd's importer under a temporary name
//     (LandArchive).
//   - The image's digest is checked against BuildKit's
//     containerimage.digest, it is unpacked, its version label is checked,
//     and only then does the final name (meta.CurrentImageName) point at
//     it, in one update together with the provenance labels. The state file
//     is written after that. A failed or cancelled build leaves the
//     previous record and the state as they were; temporary records are
//     removed (and ones left by a killed occ are swept by later builds).
package build
