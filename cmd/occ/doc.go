// Command occ runs the opencode AI coding agent as a persistent,
// authenticated web service in a sandbox container on containerd, with the
// sandbox image pulled prebuilt (digest-verified) or built from source with
// BuildKit. No Docker daemon is involved.
//
// This package only parses, binds and renders: one kong command struct per
// file, each with a Run method whose dependencies (*App, context.Context)
// are bound in main. Run turns the flags into a pkg/ops options struct,
// calls the operation with the terminal (internal/ui) bound to its
// interfaces (App.ops), and renders the result as text or --json
// (docs/json.md). The logic lives in pkg/ops, pkg/meta, pkg/registry,
// pkg/build and pkg/runtime.
package main
