// Package e2e holds occ's end-to-end test: the real occ binary and the real
// sandbox image (built from the embedded context by occ's own build code),
// run with pkg/runtime on the testbed's containerd, checked from the
// outside through the gateway. The test carries the "e2e" build tag; run it
// with `make e2e` (testbed up, Debian base seeded, test, testbed down) or,
// against a running, seeded testbed:
//
//	eval "$(hack/testbed env)" && hack/testbed-seed
//	go test -count=1 -tags e2e -timeout 40m ./e2e/
package e2e
