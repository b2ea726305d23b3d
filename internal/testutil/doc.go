// Package testutil holds what occ's tests share: the testbed's addresses
// (RequireTestbed), the occ binary built once per test process
// (OccBinary, GoBuild), one way to run it (Run), a throw-away occ
// installation (NewInstall) and a throw-away sshd standing in for a remote
// host (StartSSHD). Integration tests (integration/), the
// end-to-end tests (e2e/) and cmd/occ's tests use it instead of copies
// of their own.
package testutil
