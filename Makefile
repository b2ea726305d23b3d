# occ — build, lint and test.
#
#   make build             bin/occ
#   make test              unit tests, a short fuzz run (FUZZTIME_CI executions each), the .deb installed and purged (test-deb),
#                          go install …@vX's version checked (test-go-install),
#                          then a real testbed (containerd, BuildKit, registry), the integration tests against
#                          it, and the testbed torn down again
#   make test-unit         go test ./...
#   make test-integration  integration tests against an already running testbed (make testbed-up)
#                          and kube-apiserver (make testbed-up starts both: hack/kube/cluster up)
#   make test-matrix       the user-facing integration subset against containerd 1.6 (Debian's, with Debian's
#                          runc), 1.7 and 2.4.2, each on a testbed of its own (make test runs 1.6 and 1.7)
#   make rootless          testbed up, rootless BuildKit and rootless containerd tests (docs/rootless.md), down
#   make e2e               testbed up, Debian base seeded, the end-to-end test (e2e/: the real sandbox
#                          built by occ, run, logged into with users occ adds), testbed down
#   make kube              testbed up and seeded, a one-node Kubernetes cluster (hack/kube/cluster up
#                          --node), the real sandbox published, signed and run there by occ kube apply
#                          (integration/kubenode_test.go, tag kubenode), cluster and testbed down;
#                          not in make test (docs/kubernetes.md has the times)
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
#   make publish-multiarch testbed up, the sandbox published for linux/amd64 and linux/arm64 (arm64
#                          under QEMU: hack/publish-multiarch; slow, so not in make test), testbed down
#   make deb               bin/deb/occ_VERSION_ARCH.deb (nfpm); make test-deb also installs, checks and purges it
#   make release-snapshot  every release artefact in dist/ (goreleaser), signed, verified, not published
#   make release-check / release / release-image   the release workflow's steps (TAG=vX.Y.Z)
#   make man               completions and the man page in bin/release-assets
#   make lint              no tracked file over 1 MiB, gofmt, goimports grouping, go vet, staticcheck,
#                          shellcheck on every shell script (when installed), actionlint on .github/workflows
#   make fmt               gofmt and goimports -local github.com/opencode-cloud/occ over every Go file
#   make check             before every commit: lint, unit tests, -race on the unit packages (no root,
#                          no daemons); make test-race: every unit test of those packages under -race
#   make bench             testbed up, the side-by-side pull/start/status table (hack/bench table,
#                          docs/performance.md), testbed down. Benchmarks, not tests: they print figures
#   make bench-gateway     the login gateway of the sandbox `make demo` started, under load
#                          (hack/benchgateway; docs/reliability.md)
#
# The testbed targets need root; see hack/testbed --help.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

GO      ?= go
# Versions come from release tags (vMAJOR.MINOR.PATCH, semver): at a tagged commit VERSION is the
# tag without its "v"; elsewhere it is empty and occ reports the version in pkg/meta/version.go (the
# release the tree is, kept equal to CHANGELOG.md's latest). COMMIT is the commit, "-dirty" when the
# tree has local changes. `make build VERSION=1.2.3` overrides.
VERSION ?= $(shell git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null | sed 's/^v//')
COMMIT  ?= $(shell c=$$(git rev-parse --short=12 HEAD 2>/dev/null) && { git diff --quiet HEAD 2>/dev/null && echo $$c || echo $$c-dirty; } || echo unknown)
LDFLAGS := $(if $(VERSION),-X github.com/opencode-cloud/occ/pkg/meta.Version=$(VERSION)) -X github.com/opencode-cloud/occ/pkg/meta.Commit=$(COMMIT)
TESTBED := hack/testbed
KUBE    := hack/kube/cluster

.PHONY: all build man deb test-deb test-go-install release-snapshot release-check release release-image release-image-stage release-image-merge demo demo-down publish-multiarch fuzz fuzz-ci test test-unit test-integration e2e test-e2e testbed-up testbed-down \
	testbed-status lint fmt check test-race clean chaos kill hardening test-chaos test-kill test-hardening bench bench-gateway test-matrix rootless \
	kube test-kube

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
# A count, not a duration: with a -fuzztime duration Go 1.26's fuzzing coordinator can report
# "context deadline exceeded" as a failure at the deadline with no failing input (golang/go#75804,
# fixed in Go 1.27; seen here on FuzzConfigSet in a CI run). A count has no deadline to race.
FUZZTIME_CI ?= 5000x
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
	$(KUBE) up >/dev/null

testbed-down:
	$(KUBE) down
	$(TESTBED) down

testbed-status:
	$(TESTBED) status

# Runs against whatever testbed OCC_TESTBED_DIR / OCC_TESTBED_REGISTRY_PORT name (default /tmp/occ-tb).
# The kube tests (integration/kube_test.go) also need the API server hack/kube/cluster runs.
INTEGRATION := eval "$$($(TESTBED) env)" && eval "$$($(KUBE) env)" && $(GO) test -count=1 -tags integration ./integration/...

test-integration:
	$(INTEGRATION)

# The testbed is torn down even when bring-up or the integration tests fail; the exit status is then
# that failure. A failing teardown (a process or mount left behind) fails a run that passed.
# (No recursive make here: make runs such a line even under `make -n`.)
test: test-unit fuzz-ci test-deb test-go-install
	@status=0; \
	{ $(TESTBED) up >/dev/null && $(KUBE) up >/dev/null && $(INTEGRATION) && $(call HARDENING,$(HARDENING_TESTS)) && $(E2E); } || status=$$?; \
	$(KUBE) down || { [ $$status -ne 0 ] || status=1; }; \
	$(TESTBED) down || { [ $$status -ne 0 ] || status=1; }; \
	( $(call MATRIX_RUN,$(MATRIX_CI)) ) || status=1; \
	exit $$status

# End-to-end (e2e/, build tag e2e): occ image build on the seeded Debian base, published and signed
# by hack/publish-sandbox (cache hits: about 70 s at load 14), pulled verified by occ start, the
# sandbox run with pkg/runtime, users added with the occ binary, checked through the gateway. BuildKit's layer cache is
# kept in E2E_BUILD_CACHE, outside the testbed, so that only the first run on a machine installs
# Debian packages and opencode. Measured on 2 cores: cold 215 s, warm 100 s (testbed up and down included),
# before TestCommandsEndToEnd; with it, warm (testbed already up): 151 s at load 5, 513 s at load 18 on
# the 2-core machine shared with other jobs. TestGatewayHardening (the gateway's limits, health request,
# refusal timing, account changes without a reload, host mounts left alone) adds 38-56 s on the same
# image (its sandbox start included).
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

# The sandbox on a one-node cluster (integration/kubenode_test.go, tags integration + kubenode):
# hack/kube/cluster up --node adds kube-controller-manager, kube-scheduler and a kubelet on a
# containerd with its CRI plugin to the API server make test uses; the test publishes the real
# sandbox (hack/publish-sandbox with BuildKit's cache in E2E_BUILD_CACHE, so cheap after make e2e),
# signs it, deploys it with occ kube apply (verified, by digest), logs in through occ kube
# port-forward with users occ user add --kube made, changes users without a restart and updates to
# another signed digest. The node's binaries are built once into the testbed cache (docs/kubernetes.md
# has the times); that and the image build keep it out of make test.
KUBE_NODE := eval "$$($(TESTBED) env)" && eval "$$($(KUBE) env)" && $(TESTBED) seed && \
	OCC_KUBE_BUILD_CACHE=$(E2E_BUILD_CACHE) $(GO) test -count=1 -tags integration,kubenode -timeout 40m -v \
	-run '^TestKubeNode' ./integration/

# Against a running testbed and hack/kube/cluster up --node.
test-kube:
	$(KUBE_NODE)

# Torn down even when a step fails, as in `make test`.
kube:
	@status=0; \
	{ $(TESTBED) up >/dev/null && $(KUBE) up --node >/dev/null && $(KUBE_NODE); } || status=$$?; \
	$(KUBE) down || { [ $$status -ne 0 ] || status=1; }; \
	$(TESTBED) down || { [ $$status -ne 0 ] || status=1; }; \
	exit $$status

# The hardening suites (integration/, build tags integration + hardening): the real binary under a
# misbehaving registry (chaos_test.go), SIGKILL at random points (kill_test.go; the seed is printed,
# OCC_KILL_SEED=N replays it) and 8 commands at once (concurrency_test.go). Each prints its table,
# also after a failure. `make test` runs all three: chaos (about 3.5 min on 2 cores), kill (44
# SIGKILLs over pull, build, config set, update, start, rollback and user add, a fresh seed each run;
# it fails on any lease, active snapshot, task bundle, mount, shim, ingest or temporary file left)
# and concurrency (3 rounds of 8 commands at once): kill and concurrency 1-2.5 min together
# (docs/reliability.md has the runs).
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

# The containerd version matrix (issue 21): the integration subset users depend on (pull with and
# without the in-process unpack, start with CNI, logs, update and rollback, users, stop, status, doctor,
# and TestMatrixPaths, which asserts the path occ took on each daemon) against each containerd in
# MATRIX, one after another, each on a testbed of its own (OCC_TESTBED_DIR-mVV, registry port
# OCC_TESTBED_REGISTRY_PORT+10+i), brought up and torn down around its leg:
#   1.6  Debian 12's containerd 1.6.20 and runc 1.1.5 (apt): no rebase (containerd unpacks), no runc
#        >= 1.2 (the user namespace is refused; the legs run with userns false, as occ says to)
#   1.7  containerd v1.7.35 built into the testbed cache (about 2 min the first time): no rebase, no
#        remap-ids (the rootfs is a chowned copy), runc 1.5.3
#   2.4  containerd v2.4.2: in-process unpack, idmapped rootfs
# `make test` runs the whole suite on 2.4 and this subset on 1.6 and 1.7 (MATRIX_CI). Each leg drops
# the testbed cache's directories from PATH first (make test's own env put runc 1.5.3 there), so that
# the 1.6 leg sees Debian's runc only.
MATRIX       ?= 1.6 1.7 2.4
MATRIX_CI    ?= 1.6 1.7
MATRIX_TESTS := ^(TestMatrixPaths|TestContainerdAnswers|TestPullMediaTypesRun|TestPullStreamFallback|TestPullStoredBlobsApplyInProcess|TestRuntimeSandboxLifecycle|TestCommandsLifecycle|TestCommandsUpdatePrebuilt|TestCommandsDoctor|TestCommandsStartRefusesOldRunc|TestSecurityStartGateModesAndExposure)$$
MATRIX_RUN = status=0; i=0; base=$${OCC_TESTBED_DIR:-/tmp/occ-tb}; port=$${OCC_TESTBED_REGISTRY_PORT:-5001}; \
	for v in $(1); do i=$$((i + 1)); t=$$(date +%s); \
		( export OCC_TESTBED_DIR=$$base-m$${v/./} OCC_TESTBED_REGISTRY_PORT=$$((port + 10 + i)) OCC_TESTBED_CONTAINERD=$$v; s=0; \
		  PATH=$$(tr : '\n' <<<"$$PATH" | grep -v "^$${OCC_TESTBED_CACHE:-/var/cache/occ-testbed}/" | paste -sd:); \
		  { $(TESTBED) up >/dev/null && eval "$$($(TESTBED) env)" && \
		    $(GO) test -count=1 -tags integration -timeout 20m -run '$(MATRIX_TESTS)' ./integration/; } || s=$$?; \
		  $(TESTBED) down || { [ $$s -ne 0 ] || s=1; }; exit $$s ) && r=passed || { r=FAILED; status=1; }; \
		echo "test-matrix: containerd $$v leg $$r in $$(( $$(date +%s) - t )) s"; \
	done; exit $$status

test-matrix:
	@$(call MATRIX_RUN,$(MATRIX))

# Rootless (issue 21, docs/rootless.md): the testbed's rootless BuildKit (buildkitd run by the
# unprivileged user occ-tb-rootless under rootlesskit, OCI worker; occ builds into containerd through
# it) and a rootless containerd (hack/containerd-rootless as that user: slirp4netns, the builtin port
# driver) with occ run by the user: pull, CNI inside rootlesskit's netns, the port on the host's
# 127.0.0.1, doctor's rootless checks, a user unit. Both also run in make test with the rest of
# integration/ (about 25 s together). ROOTLESS_SANDBOX=1 first publishes the real sandbox to the
# testbed registry (hack/testbed seed + hack/publish-sandbox: a build of minutes) and also runs
# TestRootlessSandboxGateway (its login gateway under rootless containerd). Torn down even when a
# step fails, as in `make test`.
ROOTLESS_TESTS := ^(TestRootlessBuildKit|TestRootlessContainerd|TestRootlessSandboxGateway)$$
rootless:
	@status=0; \
	{ $(TESTBED) up >/dev/null && eval "$$($(TESTBED) env)" && \
	  { [ -z "$${ROOTLESS_SANDBOX:-}" ] || { $(TESTBED) seed && \
	    OCC_PUBLISH_REPO=occ/sandbox OCC_PUBLISH_SIGN=none OCC_PUBLISH_SBOM_SCANNER=none hack/publish-sandbox && \
	    export OCC_TEST_ROOTLESS_SANDBOX=$$OCC_TEST_REGISTRY/occ/sandbox:$(BASE_VERSION); }; } && \
	  $(GO) test -count=1 -tags integration -timeout 30m -v -run '$(ROOTLESS_TESTS)' ./integration/; } || status=$$?; \
	$(TESTBED) down || { [ $$status -ne 0 ] || status=1; }; \
	exit $$status

# Release artefacts. The tools (goreleaser, syft, nfpm) are pinned in tools/go.mod, a module of their
# own (syft would move otel, x/net and x/crypto in occ's go.mod), and built into bin/tools on first
# use (cold on 2 cores: nfpm ~25 s, goreleaser + syft several minutes).
#   make deb               bin/deb/occ_VERSION_ARCH.deb for this machine's architecture: a static occ
#                          (-s -w), completions and man page (hack/release-assets), nfpm
#                          (packaging/nfpm.yaml: the release's package contents)
#   make test-deb          make deb, then installs it with dpkg -i, runs occ, checks completions, man
#                          page and unit template, and purges it (packaging/deb_test.go; root, Debian)
#   make release-snapshot  everything a release publishes, in dist/, without publishing: goreleaser
#                          (archives, .deb, .rpm, SBOMs, checksums.txt and its Sigstore bundle, signed
#                          with OCC_SIGNING_KEY or a throw-away key pair), the signature and checksums
#                          verified, the amd64 .deb through the same install test, and each .rpm's files
#                          read with rpm -qp (when rpm is installed)
#   make man               bin/release-assets/{manpages,completions} (hack/release-assets)
TOOLS       := bin/tools
GOARCH_HOST := $(shell $(GO) env GOARCH)
# The version pkg/meta/version.go says this tree is (snapshots and make deb between tags).
BASE_VERSION := $(shell sed -n 's/^[[:space:]]*Version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' pkg/meta/version.go | head -n1)
DEB_VERSION  := $(or $(VERSION),$(BASE_VERSION))

$(TOOLS)/goreleaser: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(abspath $(TOOLS))/ github.com/goreleaser/goreleaser/v2
$(TOOLS)/syft: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(abspath $(TOOLS))/ github.com/anchore/syft/cmd/syft
$(TOOLS)/nfpm: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(abspath $(TOOLS))/ github.com/goreleaser/nfpm/v2/cmd/nfpm

man:
	hack/release-assets bin/release-assets

deb: $(TOOLS)/nfpm
	rm -rf bin/deb && mkdir -p bin/deb
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X github.com/opencode-cloud/occ/pkg/meta.Version=$(DEB_VERSION) -X github.com/opencode-cloud/occ/pkg/meta.Commit=$(COMMIT)" -o bin/deb/occ ./cmd/occ
	OCC=bin/deb/occ hack/release-assets bin/release-assets
	OCC_VERSION=$(DEB_VERSION) OCC_ARCH=$(GOARCH_HOST) OCC_BINARY=bin/deb/occ $(TOOLS)/nfpm pkg --config packaging/nfpm.yaml --packager deb --target bin/deb/

# OCC_TEST_DEB=path tests another .deb (make release-snapshot tests goreleaser's).
DEB_TEST = deb=$$(ls $(1)) && [ "$$(echo "$$deb" | wc -l)" -eq 1 ] && \
	OCC_TEST_DEB=$$PWD/$$deb $(GO) test -count=1 -tags packaging -run '^TestDebPackage$$' ./packaging/

# The install test reads the man page with man (man-db): installed first when missing, as the testbed
# installs its packages.
test-deb: deb
	@command -v man >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends man-db; }
	$(call DEB_TEST,bin/deb/*.deb)

# go install …@vX reports vX without -ldflags: this commit served as v0.98.7 from a file:// GOPROXY
# and installed with go install (packaging/goinstall_test.go; ~15 s, only occ's own packages compile).
test-go-install:
	$(GO) test -count=1 -tags packaging -run '^TestGoInstallVersion$$' ./packaging/

release-snapshot: $(TOOLS)/goreleaser $(TOOLS)/syft
	@set -e; key=$${OCC_SIGNING_KEY:-}; pub=$${OCC_SIGNING_PUB:-}; tmp=; \
	if [ -z "$$key" ]; then \
		tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; key=$$tmp/throwaway.key; pub=$$tmp/throwaway.pub; \
		$(GO) run ./hack/signblob keygen "$$key" "$$pub"; echo "signing with a throw-away key pair (OCC_SIGNING_KEY / OCC_SIGNING_PUB to give one)"; \
	elif [ -z "$$pub" ]; then echo "OCC_SIGNING_KEY needs OCC_SIGNING_PUB (its public key) to verify the signature" >&2; exit 2; fi; \
	start=$$(date +%s); \
	if [ -z "$$(git remote)" ]; then \
		# goreleaser reads the remote's URL and, without one, drops the commit too (version \
		# 0.1.0-snapshot+none): name one for its git commands only, through git's environment. \
		export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url GIT_CONFIG_VALUE_0=https://github.com/opencode-cloud/occ.git; \
	fi; \
	PATH=$(CURDIR)/$(TOOLS):$$PATH OCC_SIGNING_KEY=$$key OCC_BASE_VERSION=$(BASE_VERSION) $(TOOLS)/goreleaser release --snapshot --clean; \
	cp "$$pub" dist/checksums.txt.pub; \
	$(TOOLS)/signblob verify -key dist/checksums.txt.pub -bundle dist/checksums.txt.sigstore.json dist/checksums.txt; \
	(cd dist && sha256sum --quiet -c checksums.txt) && echo "checksums.txt: every artefact matches"; \
	echo "goreleaser and checks: $$(( $$(date +%s) - start )) s"; \
	ls -l dist/*.tar.gz dist/*.deb dist/*.rpm dist/*.spdx.json dist/checksums.txt*
	$(call DEB_TEST,dist/*_$(GOARCH_HOST).deb)
	@if command -v rpm >/dev/null; then for r in dist/*.rpm; do \
		OCC_TEST_RPM=$$PWD/$$r $(GO) test -count=1 -tags packaging -run '^TestRPMPackage$$' ./packaging/ || exit 1; done; \
	else echo "rpm is not installed (apt-get install rpm): the .rpm files' contents were not checked"; fi

# Publishing (.github/workflows/release.yml; TAG=vX.Y.Z). release-check: the tag is CHANGELOG.md's
# newest release and pkg/meta's version. release: goreleaser publishes everything release-snapshot
# builds, signed keyless (the workflow's OIDC identity; OCC_SIGNING_KEY=path signs with a key), with
# CHANGELOG.md's section as the notes. release-image: the sandbox image for linux/amd64 and
# linux/arm64 (arm64 under QEMU: hack/publish-multiarch) as one index, copied with the same digest to
# every repository of RELEASE_IMAGE_REPOS (the defaults occ pulls from) and signed keyless.
RELEASE_IMAGE_REPOS ?= ghcr.io/opencode-cloud/occ-sandbox docker.io/opencodecloud/occ-sandbox
space := $(subst ,, )
comma := ,
NEED_TAG = @[ -n "$(TAG)" ] || { echo "give the release tag: make $@ TAG=vX.Y.Z" >&2; exit 2; }

release-check:
	$(NEED_TAG)
	$(GO) run ./hack/changelog check $(TAG)
	$(GO) test -count=1 -run '^TestChangelogMatchesVersion$$' ./internal/changelog/

release: release-check $(TOOLS)/goreleaser $(TOOLS)/syft
	mkdir -p bin && $(GO) run ./hack/changelog notes $(TAG) >bin/release-notes.md
	PATH=$(CURDIR)/$(TOOLS):$$PATH OCC_SIGNING_KEY=$${OCC_SIGNING_KEY:-keyless} OCC_BASE_VERSION=$(BASE_VERSION) \
		$(TOOLS)/goreleaser release --clean --release-notes bin/release-notes.md
	@# What a user checks (README): the keyless signature is the release workflow's, at this tag.
	if [ "$${OCC_SIGNING_KEY:-keyless}" = keyless ]; then bin/tools/signblob verify \
		-identity-regexp '^https://github\.com/opencode-cloud/occ/\.github/workflows/release\.yml@refs/tags/$(TAG)$$' \
		-bundle dist/checksums.txt.sigstore.json dist/checksums.txt; fi

RELEASE_IMAGE_ENV = $(TESTBED) up >/dev/null && eval "$$($(TESTBED) env)" && \
		{ [ -z "$${REGISTRY_USER:-}" ] || for r in $(RELEASE_IMAGE_REPOS); do \
			printf '%s' "$$REGISTRY_PASSWORD" | crane auth login "$${r%%/*}" -u "$$REGISTRY_USER" --password-stdin; done; } && \
		export OCC_VERSION=$(TAG:v%=%) OCC_PUBLISH_REPOSITORIES=$(subst $(space),$(comma),$(RELEASE_IMAGE_REPOS)) &&

release-image:
	$(NEED_TAG)
	$(RELEASE_IMAGE_ENV) OCC_PUBLISH_SIGN=$${OCC_PUBLISH_SIGN:-keyless} hack/publish-multiarch

# The release workflow's native path: release-image-stage on a runner of each platform (PLATFORM,
# default this machine's) pushes that platform's build under a staging tag of the first repository;
# release-image-merge joins the staged platforms (RELEASE_IMAGE_PLATFORMS) into one index
# (hack/index-merge), copies it to every repository and signs it keyless.
RELEASE_IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
PLATFORM ?= linux/$(GOARCH_HOST)
release-image-stage:
	$(NEED_TAG)
	$(RELEASE_IMAGE_ENV) hack/testbed-seed && OCC_PUBLISH_PLATFORMS=$(PLATFORM) hack/publish-sandbox --stage

release-image-merge:
	$(NEED_TAG)
	$(RELEASE_IMAGE_ENV) OCC_PUBLISH_PLATFORMS=$(RELEASE_IMAGE_PLATFORMS) OCC_PUBLISH_SIGN=$${OCC_PUBLISH_SIGN:-keyless} \
		hack/publish-sandbox --merge

# The demo uses the default testbed (/tmp/occ-tb, registry on 127.0.0.1:5001) and /tmp/occ-demo.
demo: build
	hack/demo up

demo-down:
	hack/demo down

# The publisher for both platforms, arm64 emulated (QEMU user mode via binfmt_misc): an emulated apt
# and npm install takes many minutes on 2 cores, so it is its own target (docs/images.md has the
# figures). Signed when OCC_PUBLISH_SIGN_KEY names a key. Torn down even when a step fails.
publish-multiarch:
	@status=0; \
	{ $(TESTBED) up >/dev/null && eval "$$($(TESTBED) env)" && hack/publish-multiarch; } || status=$$?; \
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

# The gateway under load (hack/benchgateway; a benchmark, not a test, so not in make test): against the
# sandbox `make demo` leaves running (OCC_DEMO_DIR, OCC_DEMO_PORT and OCC_DEMO_USER as for hack/demo):
# authenticated clients sending short requests, event streams and terminal websockets held open,
# wrong passwords from several loopback addresses, and a user added and disabled through occ every
# 10 s; it prints requests per second, latency percentiles, errors, whether the streams survived, and
# the RSS of the sandbox's nginx and opencode (docs/reliability.md has a run). BENCH_GATEWAY_ARGS passes
# options (-duration 2m -clients 32 ...; go run ./hack/benchgateway -h).
BENCH_GATEWAY_ARGS ?=
bench-gateway: build
	@d=$${OCC_DEMO_DIR:-/tmp/occ-demo}; u=$${OCC_DEMO_USER:-demo}; \
	$(GO) build -o bin/benchgateway ./hack/benchgateway && \
	bin/benchgateway -url http://127.0.0.1:$${OCC_DEMO_PORT:-3000} -user $$u -password-file $$d/$$u.password \
		-occ bin/occ -occ-env XDG_CONFIG_HOME=$$d/config,XDG_DATA_HOME=$$d/data,OCC_RUN_DIR=$$d/run,OCC_CONFIG= $(BENCH_GATEWAY_ARGS)

# make lint also fails on any tracked file over 1 MiB (LARGE_FILE_LIMIT bytes): build outputs and
# large data stay out of git (a committed 41 MB binary was once 97 % of the repository).
LARGE_FILE_LIMIT ?= 1048576
lint:
	@sizes=$$(git ls-files -z | xargs -0 -r stat -c '%s %n' -- 2>/dev/null; true); \
	big=$$(awk -v max=$(LARGE_FILE_LIMIT) '$$1 > max { n = $$1; $$1 = ""; printf "  %s (%d bytes)\n", substr($$0, 2), n }' <<<"$$sizes"); \
	if [ -n "$$big" ]; then echo "tracked files over $(LARGE_FILE_LIMIT) bytes (keep them out of git: .gitignore, git rm --cached):"; echo "$$big"; exit 1; fi
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./integration/...
	$(GO) vet -tags e2e ./e2e/...
	$(GO) vet -tags integration,hardening,kubenode ./integration/...
	$(GO) vet -tags packaging ./packaging/
	@out=$$($(GO) tool goimports -local $(LOCAL_IMPORTS) -l .); \
	if [ -n "$$out" ]; then echo "imports need grouping (std, others, then $(LOCAL_IMPORTS)); run make fmt:"; echo "$$out"; exit 1; fi
	$(GO) tool staticcheck ./...
	$(GO) tool staticcheck -tags integration,hardening,kubenode ./integration/...
	$(GO) tool staticcheck -tags e2e ./e2e/...
	$(GO) tool staticcheck -tags packaging ./packaging/
	@scripts=$$(git ls-files -z | xargs -0 -r awk 'FNR == 1 { if ($$0 ~ /^#!.*(\/|env )(ba|da)?sh( |$$)/) print FILENAME; nextfile }'); \
	if command -v shellcheck >/dev/null; then echo "shellcheck on $$(echo $$scripts | wc -w) scripts"; shellcheck $$scripts; \
	else echo "shellcheck not installed (apt-get install shellcheck); skipped"; fi
	$(GO) tool actionlint .github/workflows/*.yml

# gofmt and the one grouping of imports make lint checks: standard library, other modules, then occ's own.
LOCAL_IMPORTS := github.com/opencode-cloud/occ
fmt:
	gofmt -w $$(git ls-files '*.go')
	$(GO) tool goimports -local $(LOCAL_IMPORTS) -w $$(git ls-files '*.go')

# Before every commit (CONTRIBUTING.md): make lint, the unit tests, and the race detector over the
# packages whose unit tests run without root or daemons. Needs neither root nor a testbed; tests that
# need root skip themselves. RACE_SKIP leaves out of the race run what is too slow under it
# (TestPullFaults: 11.6 s plain, over 2 min with -race on 2 busy cores; TestPullStreamAppliesAfterVerify:
# its test registry missed the stall timeout under -race at load 30, 4 attempts, and it failed); both
# still run in the plain pass, and make test-race runs everything under -race. Figures: CONTRIBUTING.md.
RACE_PKGS ?= ./pkg/meta/... ./pkg/registry/... ./pkg/service/... ./internal/...
RACE_SKIP ?= ^(TestPullFaults|TestPullStreamAppliesAfterVerify)$$
check: lint
	$(GO) test ./...
	$(GO) test -race -skip '$(RACE_SKIP)' $(RACE_PKGS)

test-race:
	$(GO) test -race $(RACE_PKGS)

clean:
	rm -rf bin dist
