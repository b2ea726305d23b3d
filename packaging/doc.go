// Package packaging holds what occ's .deb and .rpm carry beside the binary
// (nfpm.yaml for make deb, the systemd unit template) and their tests:
// nfpm.yaml and .goreleaser.yaml's nfpms list the same contents
// (packaging_test.go); the built .deb installs, works and removes cleanly
// (deb_test.go, build tag packaging, root: make test-deb); each .rpm has
// its files where Fedora expects them (rpm_test.go); go install …@vX
// reports vX (goinstall_test.go: make test-go-install).
package packaging
