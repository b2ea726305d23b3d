# occ — build, lint and test.
#
#   make build             bin/occ
#   make test              unit tests, then a real testbed (containerd, BuildKit, registry),
#                          the integration tests against it, and the testbed torn down again
#   make test-unit         go test ./...
#   make test-integration  integration tests against an already running testbed (make testbed-up)
#   make e2e               testbed up, Debian base seeded, the end-to-end test (e2e/: the real sandbox
#                          built by occ, run, logged into with users occ adds), testbed down
#   make lint              gofmt + go vet (+ shellcheck when installed)
#   make bench             testbed up, the side-by-side pull/start/status table (hack/bench table,
#                          docs/performance.md), testbed down. Benchmarks, not tests: they print figures
#
# The testbed targets need root; see hack/testbed --help.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

GO      ?= go
VERSION ?= 0.1.0
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/opencode-cloud/occ/pkg/meta.Version=$(VERSION) -X github.com/opencode-cloud/occ/pkg/meta.Commit=$(COMMIT)
TESTBED := hack/testbed

.PHONY: all build test test-unit test-integration e2e test-e2e testbed-up testbed-down testbed-status lint clean bench

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/occ ./cmd/occ

test-unit:
	$(GO) test ./...

testbed-up:
	$(TESTBED) up >/dev/null

testbed-down:
	$(TESTBED) down

testbed-status:
	$(TESTBED) status

# Runs against whatever testbed OCC_TESTBED_DIR / OCC_TESTBED_REGISTRY_PORT name (default /tmp/occ-tb).
INTEGRATION := eval "$$($(TESTBED) env)" && $(GO) test -count=1 -tags integration ./integration/...

test-integration:
	$(INTEGRATION)

# The testbed is torn down even when bring-up or the integration tests fail; the exit status is then
# that failure. A failing teardown (a process or mount left behind) fails a run that passed.
# (No recursive make here: make runs such a line even under `make -n`.)
test: test-unit
	@status=0; \
	{ $(TESTBED) up >/dev/null && $(INTEGRATION) && $(E2E); } || status=$$?; \
	$(TESTBED) down || { [ $$status -ne 0 ] || status=1; }; \
	exit $$status

# End-to-end (e2e/, build tag e2e): occ image build on the seeded Debian base, the sandbox run with
# pkg/runtime, users added with the occ binary, checked through the gateway. BuildKit's layer cache is
# kept in E2E_BUILD_CACHE, outside the testbed, so that only the first run on a machine installs
# Debian packages and opencode. Measured on 2 cores: cold 215 s, warm 100 s (testbed up and down included).
E2E_BUILD_CACHE ?= $(or $(OCC_TESTBED_CACHE),/var/cache/occ-testbed)/e2e-build-cache
E2E := eval "$$($(TESTBED) env)" && $(TESTBED) seed && \
	OCC_E2E_BUILD_CACHE=$(E2E_BUILD_CACHE) $(GO) test -count=1 -tags e2e -timeout 25m ./e2e/...

# Against an already running testbed.
test-e2e:
	$(E2E)

# Torn down even when a step fails, as in `make test`.
e2e:
	@status=0; \
	{ $(TESTBED) up >/dev/null && $(E2E); } || status=$$?; \
	$(TESTBED) down || { [ $$status -ne 0 ] || status=1; }; \
	exit $$status

# Benchmarks (not tests): occ's pull against ctr (both modes), podman and crane, printed as one table
# (docs/performance.md says how to read it). BENCH_ARGS passes options (BENCH_ARGS=--quick for a smoke
# run; hack/bench table --help); BENCH_SANDBOX=1 first publishes the real sandbox to the testbed registry
# (hack/testbed seed + hack/publish-sandbox: a build of several minutes) so that its rows and the
# start/status rows are measured; BENCH_NICE=1 runs the testbed and the tools at nice -20 (shared machines).
# The testbed is torn down even when a step fails, as in `make test`.
BENCH_ARGS ?=
bench:
	@status=0; \
	{ $(TESTBED) up >/dev/null && eval "$$($(TESTBED) env)" && \
		{ [ -z "$${BENCH_SANDBOX:-}" ] || { $(TESTBED) seed && hack/publish-sandbox; }; } && \
		hack/bench table $(BENCH_ARGS); } || status=$$?; \
	$(TESTBED) down || { [ $$status -ne 0 ] || status=1; }; \
	exit $$status

lint:
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./integration/...
	$(GO) vet -tags e2e ./e2e/...
	@if command -v shellcheck >/dev/null; then shellcheck $(TESTBED) .ci/run hack/bench hack/bench-table; else echo "shellcheck not installed; skipped"; fi

clean:
	rm -rf bin
