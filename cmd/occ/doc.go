// Command occ runs the opencode AI coding agent as a persistent,
// authenticated web service in a sandbox container on containerd, with the
// sandbox image pulled prebuilt (digest-verified) or built from source with
// BuildKit. No Docker daemon is involved.
//
// This package only wires commands: one kong command struct per file, each
// with a Run method whose dependencies (*App, context.Context) are bound in
// main. The logic lives in pkg/meta, pkg/registry, pkg/build and pkg/runtime.
package main
