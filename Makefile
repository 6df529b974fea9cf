# mediagraph — see README.md. Every target installs what it needs.
SHELL := /bin/bash
GO ?= go
VERSITYGW_VERSION := v1.8.0
# nodynamic: the WebP and AVIF encoders always run their WebAssembly builds,
# never a libwebp/libavif found on the machine (and CGO_ENABLED=0 builds stay static).
export GOFLAGS := -buildvcs=false -tags=nodynamic

.PHONY: run build test generate check-generated bench fuzz soak lint playground clean

## run: start a development server (SQLite + ./data, playground at /, dev key printed)
run: build
	./bin/mediagraph serve

## build: the binary, with the playground embedded
build: playground
	$(GO) build -o bin/mediagraph ./cmd/mediagraph

## playground: install and bundle the GraphQL IDE from npm (embedded with go:embed)
playground: playground/dist/index.html

playground/dist/index.html: playground/package.json playground/package-lock.json playground/build.js
	npm --prefix playground ci --no-audit --no-fund --loglevel=error
	npm --prefix playground run build --silent
	@test -f $@

## bin/versitygw: the S3 server the tests run against (built once, then cached)
bin/versitygw:
	GOBIN=$(CURDIR)/bin $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

## test: unit tests and the GraphQL suite on SQLite+disk and PostgreSQL+S3
test: bin/versitygw playground
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

## bench: load and soak measurements (PostgreSQL + versitygw); figures in docs/BENCHMARKS.md
bench: bin/versitygw playground
	mkdir -p bench/results && set -o pipefail && MEDIAGRAPH_BENCH=1 PEER_PROFILE=1 $(GO) test -count=1 -run 'TestBench' -v -timeout 90m ./cmd/mediagraph | tee bench/results/bench.log
	set -o pipefail && $(GO) test -count=1 -run '^$$' -bench '12MP|Encode' -benchtime 3x ./analyze | tee bench/results/transform.log
	@echo "CPU profiles: bench/results/list.cpu.pprof, and peer-{a,b,b2,d}.cpu.pprof when Directus answered (go tool pprof -top …)"

## soak: two replicas on PostgreSQL + versitygw under 200 clients, then PostgreSQL and S3 restarts and kill -9 of a
## replica mid-upload (restarts the machine's PostgreSQL cluster; figures in docs/BENCHMARKS.md)
soak: bin/versitygw
	mkdir -p bench/results && set -o pipefail && MEDIAGRAPH_SOAK=1 $(GO) test -count=1 -run 'TestSoak$$' -v -timeout 30m ./cmd/mediagraph 2>&1 | grep -v '^time=' | tee bench/results/soak.log

## fuzz: run every Go fuzz target for FUZZTIME each (crashers land in testdata/fuzz; `make test` replays them).
## Fuzzing runs on Go 1.27.1: Go 1.26's fuzz coordinator can report a bare "context deadline exceeded" at the end
## of -fuzztime with no failing input (go.dev/issue/75804, fixed in 1.27); the toolchain comes from the module proxy.
FUZZTIME ?= 30s
FUZZ_TOOLCHAIN ?= go1.27.1
fuzz:
	@set -e; export GOTOOLCHAIN=$(FUZZ_TOOLCHAIN); $(GO) version; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

## generate: regenerate gqlgen code after editing schema.graphqls
generate:
	$(GO) tool gqlgen generate

## check-generated: fail if generated code is not current
check-generated:
	$(GO) tool gqlgen generate
	@git diff --exit-code -- graph resolvers || { echo "generated code is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- graph resolvers)" || { git status --porcelain -- graph resolvers; echo "generated code is stale: run make generate and commit"; exit 1; }

## lint: vet, formatting, a tidy go.mod, and no large files (build output, binaries) committed
lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod and go.sum are not tidy: run go mod tidy"; exit 1; }
	@git ls-files -z | xargs -0 stat -c '%s %n' | awk '$$1 > 4194304 { print "too large to commit (over 4 MiB):", $$2; bad = 1 } END { exit bad }'

clean:
	rm -rf bin playground/node_modules
	find playground/dist -mindepth 1 ! -name .gitkeep -delete
