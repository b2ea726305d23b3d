// Package integration holds occ's integration tests: they run against real daemons, never fakes.
//
// The daemons come from hack/testbed: containerd v2.4.2, two BuildKit v0.34.2 daemons (one with the
// containerd worker writing into the "opencode-cloud" namespace, one with the OCI/runc worker) and a
// plain-HTTP OCI registry on 127.0.0.1 seeded with test/busybox:latest. The suite finds them through
// environment variables:
//
//	CONTAINERD_ADDRESS     containerd's socket
//	BUILDKIT_HOST          BuildKit with the containerd worker (unix://…)
//	OCC_TEST_BUILDKIT_OCI  BuildKit with the OCI worker (unix://…)
//	OCC_TEST_REGISTRY      the registry, host:port
//	OCC_TESTBED_DIR        the testbed directory (per-testbed FIFO and runc state dirs live in it)
//
// The test files carry the "integration" build tag, so `go test ./...` does not run them. Run the
// whole thing (unit tests, testbed up, this suite, testbed down) as root with
//
//	make test
//
// or, against a testbed that is already up:
//
//	hack/testbed up && eval "$(hack/testbed env)"
//	go test -count=1 -tags integration ./integration/...
//
// A missing variable fails the suite instead of skipping it, so that a broken testbed cannot pass
// CI unnoticed.
package integration
