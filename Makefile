# occ — build, lint and test.
#
#   make build             bin/occ
#   make test              unit tests, a short fuzz run (FUZZTIME_CI each), then a real testbed (containerd, BuildKit, registry),
#                          the integration tests against it, and the testbed torn down again
#   make test-unit         go test ./...
#   make test-integration  integration tests against an already running testbed (make testbed-up)
#   make e2e               testbed up, Debian base seeded, the end-to-end test (e2e/: the real sandbox
#                          built by occ, run, logged into with users occ adds), testbed down
#   make fuzz              every fuzz target for FUZZTIME each (default 10s; e.g. make fuzz FUZZTIME=5m)
#   make chaos             testbed up, occ image pull and occ update under fault schedules injected by
#                          a chaos proxy in front of the registry (internal/chaosproxy), testbed down
#   make kill              testbed up, occ commands SIGKILLed at random points, 8 at once, testbed down
#                          (make test runs it too, after the chaos suite)
#   make hardening         both (test-chaos / test-kill / test-hardening: against a running testbed)
#   make demo              the README's first command: testbed up and seeded, the real sandbox published
#                          to its registry, a throw-away occ config, a login user, occ start, occ status
#                          (hack/demo; a second run only checks)
#   make demo-down         stop the demo sandbox, take the testbed down, delete the demo's config
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

.PHONY: all build demo demo-down fuzz fuzz-ci test test-unit test-integration e2e test-e2e testbed-up testbed-down \
	testbed-status lint clean chaos kill hardening test-chaos test-kill test-hardening bench

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/occ ./cmd/occ

test-unit:
	$(GO) test ./...

# Fuzz targets as package:Target. `go test` runs each on its seeds (f.Add and testdata/fuzz/<Target>);
# `make fuzz` mutates for FUZZTIME each. A crasher is saved to the package's testdata/fuzz/<Target>/:
# commit it with the fix and it stays a regression test. `make test` fuzzes each for FUZZTIME_CI.
FUZZ_TARGETS := \
	pkg/meta:FuzzParseConfig pkg/meta:FuzzConfigSet pkg/meta:FuzzParseMount pkg/meta:FuzzParseState \
	pkg/meta:FuzzImageFields pkg/registry:FuzzParseSource pkg/registry:FuzzSourceFromConfig \
	pkg/registry:FuzzParsePlatform
FUZZTIME    ?= 10s
FUZZTIME_CI ?= 3s
FUZZ = for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t\#*:}; echo "fuzz $$name ($$pkg, $(1))"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(1) -parallel=$(or $(FUZZPARALLEL),2) ./$$pkg || exit 1; \
	done

fuzz:
	@$(call FUZZ,$(FUZZTIME))

fuzz-ci:
	@$(call FUZZ,$(FUZZTIME_CI))

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
test: test-unit fuzz-ci
	@status=0; \
	{ $(TESTBED) up >/dev/null && $(INTEGRATION) && $(call HARDENING,$(HARDENING_TESTS)) && $(E2E); } || status=$$?; \
	$(TESTBED) down || { [ $$status -ne 0 ] || status=1; }; \
	exit $$status

# End-to-end (e2e/, build tag e2e): occ image build on the seeded Debian base, the sandbox run with
# pkg/runtime, users added with the occ binary, checked through the gateway. BuildKit's layer cache is
# kept in E2E_BUILD_CACHE, outside the testbed, so that only the first run on a machine installs
# Debian packages and opencode. Measured on 2 cores: cold 215 s, warm 100 s (testbed up and down included),
# before TestCommandsEndToEnd; with it, warm (testbed already up): 151 s at load 5, 513 s at load 18 on
# the 2-core machine shared with other jobs.
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

# The hardening suites (integration/, build tags integration + hardening): the real binary under a
# misbehaving registry (chaos_test.go), SIGKILL at random points (kill_test.go; the seed is printed,
# OCC_KILL_SEED=N replays it) and 8 commands at once (concurrency_test.go). Each prints its table,
# also after a failure. `make test` runs all three: chaos about 3.5 min on 2 cores, kill (44 SIGKILLs
# over pull, build, config set, update, start, rollback and user add, a fresh seed each run) and
# concurrency (3 rounds of 8 commands at once) about 1 min together.
HARDENING = report=$$(mktemp) && eval "$$($(TESTBED) env)" && \
	{ OCC_CHAOS_REPORT=$$report $(GO) test -count=1 -tags integration,hardening -timeout 30m -run '$(1)' ./integration/ && s=0 || s=$$?; \
	  cat $$report; rm -f $$report; [ $$s -eq 0 ]; }
CHAOS_TESTS := ^TestChaos
KILL_TESTS  := ^(TestKill|TestConcurrent)$$
HARDENING_TESTS := ^(TestChaos.*|TestKill|TestConcurrent)$$

test-chaos:
	@$(call HARDENING,$(CHAOS_TESTS))

test-kill:
	@$(call HARDENING,$(KILL_TESTS))

test-hardening:
	@$(call HARDENING,$(HARDENING_TESTS))

# Torn down even when a step fails, as in `make test` (no recursive make: see `test`).
HARDENING_WITH_TESTBED = status=0; \
	{ $(TESTBED) up >/dev/null && $(call HARDENING,$(1)); } || status=$$?; \
	$(TESTBED) down || { [ $$status -ne 0 ] || status=1; }; \
	exit $$status

chaos:
	@$(call HARDENING_WITH_TESTBED,$(CHAOS_TESTS))

kill:
	@$(call HARDENING_WITH_TESTBED,$(KILL_TESTS))

hardening:
	@$(call HARDENING_WITH_TESTBED,$(HARDENING_TESTS))

# The demo uses the default testbed (/tmp/occ-tb, registry on 127.0.0.1:5001) and /tmp/occ-demo.
demo: build
	hack/demo up

demo-down:
	hack/demo down


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
	$(GO) vet -tags integration,hardening ./integration/...
	@if command -v shellcheck >/dev/null; then shellcheck $(TESTBED) hack/demo .ci/run hack/bench hack/bench-table; else echo "shellcheck not installed; skipped"; fi

clean:
	rm -rf bin
