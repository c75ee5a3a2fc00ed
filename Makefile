# fanout: the two set-up commands are `make run` and `make test`.
GO        ?= go
BIN       ?= bin
FUZZTIME  ?= 20s
PKGS      := ./...
.PHONY: all build run test test-short bench bench-go fuzz lint fmt vet clean deps

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...
	$(GO) build -o $(BIN)/gobgp github.com/osrg/gobgp/v3/cmd/gobgp

run: build
	$(BIN)/fanoutd $(ARGS)

# deps installs what the tests need on a fresh Debian machine (root only; harmless when present).
deps:
	@./.ci/deps

test: deps lint
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	# The reconnect storm at full size: the race detector's overhead would be all it measured.
	$(GO) test -count=1 -timeout 10m -run '^TestStorm$$' -v ./bgp/

test-short:
	$(GO) test -short -count=1 $(PKGS)

# bench: Go micro-benchmarks, then the side-by-side workloads against fanoutd and every
# installed daemon (BIRD 2, FRR, gobgpd, OpenBGPD), repeated BENCH_REPEAT times, within
# about 20 minutes on 2 cores; writes BENCHMARKS.md's generated section and bench/results/.
# BENCH_QUICK=1 is a smoke run into $(BIN)/bench-quick/; BENCH_TARGETS=fanoutd,bird picks targets.
BENCH_TARGETS ?= fanoutd,bird,frr,gobgpd,openbgpd
BENCH_REPEAT  ?= 3
BENCH_QUICK   ?=
BENCH_FLAGS   ?=
BENCH_CMD      = make bench$(if $(BENCH_QUICK), BENCH_QUICK=1)$(if $(filter command line environment,$(origin BENCH_TARGETS)), BENCH_TARGETS=$(BENCH_TARGETS))$(if $(filter command line environment,$(origin BENCH_REPEAT)), BENCH_REPEAT=$(BENCH_REPEAT))
bench: deps build
	$(BIN)/fanout-bench suite -go $(GO) -fanoutd $(BIN)/fanoutd -targets $(BENCH_TARGETS) -repeat $(BENCH_REPEAT) \
		$(if $(BENCH_QUICK),-quick -repeat 1 -dir $(BIN)/bench-quick -md $(BIN)/bench-quick/BENCHMARKS.md) \
		-command '$(BENCH_CMD)' $(BENCH_FLAGS)

# bench-go: only the Go micro-benchmarks of every package, printed.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $(PKGS)

fuzz:
	FUZZTIME=$(FUZZTIME) ./.ci/fuzz

# demo: fanoutd as a route server between two gobgpd members and the route-churn generator's
# speakers, with the gobgp CLI showing what they exchange; on loopback, bounded by
# DEMO_TIMEOUT seconds (default 120), stops what it started and removes its files.
.PHONY: demo
demo: build
	BIN=$(BIN) ./.ci/demo

lint: fmt vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

clean:
	rm -rf $(BIN)
