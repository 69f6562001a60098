# gridprobe — see README.md. Every target works from a fresh clone on Debian.
SHELL := /bin/bash
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)
BIN := bin
TESTBED := $(or $(GRIDPROBE_TESTBED),/tmp/gridprobe-testbed)

.PHONY: all build probe demo test unit vet deps testbed-up testbed-down bench faults dashboards matrix clean

all: build

build probe:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/probe ./cmd/probe

# The main job: bring up the local testbed and probe its site.
demo: build testbed-up
	@eval "$$(testbed/env)" && $(BIN)/probe run -c sites.yaml; rc=$$?; \
	  echo "probe exit code $$rc (Nagios: worst state)"; exit 0

# Everything: formatting, vet, unit tests, integration tests against the real testbed.
test: deps vet testbed-up
	@eval "$$(testbed/env)" && GO=$(GO) scripts/gotest.sh

deps:
	scripts/install-deps.sh

unit: vet
	GRIDPROBE_NO_TESTBED=1 $(GO) test -race -count=1 ./...

vet:
	$(GO) mod download
	@fmt=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...

dashboards:
	$(GO) run ./dashboards/gen

testbed-up:
	testbed/up.sh

testbed-down:
	-testbed/matrix/down.sh
	testbed/down.sh

# Reliability and security figures: faults injected, checks right, rounds in budget, tokens leaked (0),
# foreign deletes (0), panics (0). Exits non-zero when a figure is wrong.
faults: build testbed-up
	@eval "$$(testbed/env)" && GO=$(GO) scripts/faults.sh

# Benchmarks (not tests): P1/P1b vs gfal2 (CLI, Python API), P2 vs the round-trip floor, P3 1 000 sites (CPU
# against its floor, wall, memory), P4 exporter, P5 VO feed, TPC copies. Results: bench/RESULTS.md.
bench: build deps testbed-up
	@eval "$$(testbed/env)" && $(GO) run ./bench/cmd/bench

# The same probes against several real server releases (Debian bookworm, trixie, sid chroots).
matrix: build testbed-up
	testbed/matrix/up.sh
	@eval "$$(testbed/env)" && GRIDPROBE_WN_BINARY=$(CURDIR)/$(BIN)/probe $(GO) run ./testbed/matrix/cmd/matrix -o testbed/matrix/RESULTS.md

clean:
	rm -rf $(BIN)
