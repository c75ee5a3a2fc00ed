# fanout: the two set-up commands are `make run` and `make test`.
GO        ?= go
BIN       ?= bin
FUZZTIME  ?= 20s
PKGS      := ./...
.PHONY: all build run test test-short bench fuzz lint fmt vet clean deps

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

test-short:
	$(GO) test -short -count=1 $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $(PKGS)

fuzz:
	FUZZTIME=$(FUZZTIME) ./.ci/fuzz

lint: fmt vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

clean:
	rm -rf $(BIN)
