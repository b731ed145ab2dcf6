# zonecache: `make run` starts the demo, `make test` runs every test.
# Both work on a fresh Debian machine with Go: as root, missing Debian
# packages (memcached, libmemcached-tools, prometheus) are installed on first use.

GO      ?= go
BIN     ?= bin
ARGS    ?=
PORT    ?= 11211
BENCHTIME ?= 1s

.PHONY: all build run run-node check-consistency test test-go test-deploy test-contrib conformance bench bench-server fuzz deps vet staticcheck vulncheck clean

all: build

## build: compile zonecached, zonecache and zonebench into ./bin
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## deps: install Debian's memcached, libmemcached-tools and prometheus when missing
deps:
	@./scripts/deps.sh

## run: the demo: a local 3-zone fleet of zonecached under a 20 s workload,
## zone a lost halfway, then a report (ARGS=--keep leaves the fleet up)
run: build
	$(BIN)/zonebench demo --zonecached $(BIN)/zonecached $(ARGS)

## run-node: one zonecached in the foreground on 127.0.0.1:$(PORT)
run-node: build
	@echo "zonecached listening on 127.0.0.1:$(PORT); try: printf 'set k 0 0 2\r\nhi\r\nget k\r\n' | nc -q1 127.0.0.1 $(PORT)"
	@echo "metrics at http://127.0.0.1:$$(( $(PORT) + 1000 ))/metrics; Ctrl-C stops it"
	$(BIN)/zonecached -l 127.0.0.1 -p $(PORT) --admin-addr 127.0.0.1:$$(( $(PORT) + 1000 )) $(ARGS)

## check-consistency: stale reads, lost writes and caller errors of local
## fleets under six faults (ARGS=--short for the short form; needs root for
## the network namespaces of the zone cuts)
check-consistency: deps build
	$(BIN)/zonebench consistency --zonecached $(BIN)/zonecached $(ARGS)

## test: every test: vet, staticcheck, unit and integration tests under -race,
## conformance, the deployment kit's checks, the OpenTelemetry adapter
test: deps build vet staticcheck test-go conformance test-deploy test-contrib

vet:
	$(GO) vet ./...

## staticcheck: honnef.co/go/tools' linter, pinned, installed from the Go
## module proxy into $(go env GOPATH)/bin when missing
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK = $(shell $(GO) env GOPATH)/bin/staticcheck
staticcheck:
	@$(STATICCHECK) -version 2>/dev/null | grep -q '($(STATICCHECK_VERSION:v%=%))' || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(STATICCHECK) ./...

## vulncheck: govulncheck (pinned) against a pinned copy of the Go
## vulnerability database (works offline from the module proxy)
vulncheck:
	@GO=$(GO) ./scripts/vulncheck.sh

test-go:
	$(GO) test -race -count=1 -timeout 20m ./...

## test-deploy: the deployment kit (deploy/): the Kubernetes manifests decode
## strictly and render with kustomize, the image's binaries run in an empty
## chroot, the systemd unit verifies (deploy/check, a module of its own)
test-deploy:
	cd deploy/check && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m ./...

## test-contrib: contrib/otelzonecache, the OpenTelemetry adapter (a module of
## its own, so that zonecache's module has no OpenTelemetry dependency)
test-contrib:
	cd contrib/otelzonecache && $(GO) vet ./... && $(GO) test -race -count=1 ./...

## conformance: memccapable -a and gomemcache's TestLocalhost against zonecached
conformance: build
	@./scripts/conformance.sh $(BIN)/zonecached

## bench: Go micro-benchmarks of every package
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

## bench-server: memcached and zonecached side by side under memcaslap (50 and
## 500 connections) and a pipelined multi-get load, 3 rounds of 8 s each;
## ARGS=--duration 3s --rounds 1 for a quick look (zonebench server -h)
bench-server: deps build
	$(BIN)/zonebench server --zonecached $(BIN)/zonecached $(ARGS)

## fuzz: run each fuzz target for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	@./scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf $(BIN)

## packages: regenerate docs/packages.md, the package diagram, from go list
.PHONY: packages
packages:
	$(GO) test -count=1 -run '^TestPackageDiagram$$' ./internal/e2e -args -update-packages
