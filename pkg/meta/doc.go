// Package meta owns everything occ knows about itself: the config file
// (schema, defaults, JSONC loading, validation, atomic saving), the
// image-state sidecar, the XDG paths both live under, the lock every
// mutating command takes, the provenance types and the label keys they are
// stored under, the canonical local image names, and the CLI version.
//
// meta imports nothing else of occ's; every other package may import it.
package meta
