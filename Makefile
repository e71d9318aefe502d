# clusterf — build, run, test.
#   make run MOUNT=/mnt/frog   run a node with its FUSE mount
#   make test                  every test (needs root for FUSE and tmpfs; CI runs this)
# Both first check Go (scripts/go-check.sh) and the programs that
# deps/deps.txt lists (scripts/deps.sh: as root it apt-get installs them).

GO       ?= go
MOUNT    ?= /mnt/frog
DATA     ?= ./data
BIN      ?= bin/clusterf
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
# Packages whose tests run with the race detector: everything but the
# real-process integration tests (they exercise the built binary) and the
# 50-node simulation (too heavy under -race on two cores).
UNIT_PKGS = $(shell $(GO) list ./... | grep -v -e /integration -e /sim)

.PHONY: build run test test-unit test-integration fuzz-ci bench lint fuzz clean go-check deps-run deps-test deps-bench

# Go missing or older than go.mod's `go` line: one clear message.
go-check:
	@GO=$(GO) sh scripts/go-check.sh

# The programs of deps/deps.txt for running, testing, benchmarking.
deps-run deps-test deps-bench:
	@sh scripts/deps.sh $(@:deps-%=%)

build: go-check
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/clusterf

run: deps-run build
	mkdir -p $(MOUNT)
	$(BIN) mount $(MOUNT) --data-dir $(DATA)

test: go-check deps-test test-unit fuzz-ci test-integration

test-unit: go-check
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) test -race -count=1 $(UNIT_PKGS)

test-integration: go-check
	$(GO) test -count=1 -timeout 20m ./integration/... ./sim/...

# Benchmarks (never part of test; needs root): Go micro-benchmarks and the
# transport vs raw quic-go, fio on the mount vs go-fuse's loopback, the REST
# API vs net/http, and a 5-node netns cluster. Each prints ratios against a
# baseline of the same run; sizes from the environment (see bench/run.sh).
bench: deps-bench build
	GO=$(GO) CLUSTERF_BIN=$(BIN) ./bench/run.sh

# Every decoder's fuzz target for a bounded time (part of make test).
FUZZCI ?= 5s
fuzz-ci: go-check
	GO=$(GO) scripts/fuzz.sh ./crdt/ FuzzDecodeOps $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./crdt/ FuzzDecodeSnapshot $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./crdt/ FuzzApply $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./transport/ FuzzReadFrame $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./discovery/ FuzzDecodePacket $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./api/ FuzzCleanPath $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./webdav/ FuzzMapPath $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./chunk/ FuzzDecode $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./filesync/ FuzzStateRecords $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./chunk/extent/ FuzzDecodeHint $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./chunk/extent/ FuzzScan $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./atrest/ FuzzOpen $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./search/ FuzzDecodeExtract $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./search/ FuzzExtract $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./search/ FuzzQuery $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./media/ FuzzFragments $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./media/ FuzzOrientation $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./media/ FuzzParseStreamPath $(FUZZCI)
	GO=$(GO) scripts/fuzz.sh ./media/ FuzzProbeJSON $(FUZZCI)

FUZZTIME ?= 60s
fuzz:
	$(MAKE) fuzz-ci FUZZCI=$(FUZZTIME)

lint: go-check
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

clean:
	rm -rf bin

# Fault injection soak (issue 8, docs/reliability.md): ROUNDS random seeds,
# each with PHASE of faults; every round prints its seed and verdict line.
# Replay one: FAULTS_SEED=<seed> go test -run '^TestFaults$$' -v ./integration/
ROUNDS ?= 5
PHASE  ?= 3m
.PHONY: soak
soak:
	FAULTS_ROUNDS=$(ROUNDS) FAULTS_PHASE=$(PHASE) $(GO) test -count=1 -timeout 0 -run '^TestFaults$$' -v ./integration/ 2>&1 | tee soak.log | grep -E '^(=== RUN|--- |\s+faults|faults:|FAIL|ok)'

# The web dashboard (issue 14, docs/web.md). web-vendor refreshes the
# vendored front-end libraries from npm at the versions pinned in
# web/vendor.sh (the files are committed: nothing else needs npm);
# screenshots reruns the browser tests and keeps their PNGs in
# docs/screenshots; bench-dashboard measures the first render of the
# visualizer and the monitor for a 100-node simulation.
.PHONY: web-vendor screenshots bench-dashboard
web-vendor:
	sh web/vendor.sh
screenshots: go-check
	CLUSTERF_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run '^TestWeb$$' ./integration/
bench-dashboard: go-check
	$(GO) test -count=1 -run '^$$' -bench BenchmarkDashboard100Nodes -benchtime 3x -timeout 30m ./integration/
