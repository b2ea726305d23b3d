// Package build owns the build-from-source path: finding a BuildKit daemon,
// the sandbox build context embedded in the binary, solve options (cache
// control, build args, annotations), landing the result in containerd
// (directly through a containerd worker, or as an OCI archive imported into
// containerd) and BuildKit progress.
//
// It depends on pkg/meta and the BuildKit client, never on pkg/registry.
package build
