# uploadonce: see README.md. Every target works on a fresh clone.
GO        ?= go
BIN       := bin/uploadonce
IMAGE     ?= uploadonce/memcached:local

# testcontainers-go: no reaper (it needs a registry) and loopback only.
export TESTCONTAINERS_RYUK_DISABLED := true
export TESTCONTAINERS_HOST_OVERRIDE ?= 127.0.0.1
# Use the locally built image when it exists (there is no registry here).
UPLOADONCE_MEMCACHED_IMAGE ?= $(shell docker image inspect $(IMAGE) >/dev/null 2>&1 && echo $(IMAGE))
export UPLOADONCE_MEMCACHED_IMAGE

# make loadtest variables (see README): empty means the tool's default.
CONCURRENCY ?=
URLS        ?=
DUPLICATES  ?=
DELAYED     ?=
RATE        ?=
STRATEGY    ?=
MEMCACHED   ?=
REPORT_JSON ?=
ARGS        ?=

LOADTEST_FLAGS := $(if $(CONCURRENCY),--concurrency $(CONCURRENCY)) \
	$(if $(URLS),--urls $(URLS)) \
	$(if $(DUPLICATES),--duplicates $(DUPLICATES)) \
	$(if $(DELAYED),--delayed $(DELAYED)) \
	$(if $(RATE),--rate $(RATE)) \
	$(if $(STRATEGY),--strategy $(STRATEGY)) \
	$(if $(MEMCACHED),--memcached $(MEMCACHED)) \
	$(if $(REPORT_JSON),--report-json $(REPORT_JSON)) \
	$(ARGS)

.PHONY: all build test loadtest serve bench mutate memcached-image vet fmt clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/uploadonce

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 8m ./...

loadtest: build
	./$(BIN) loadtest $(LOADTEST_FLAGS)

serve: build
	./$(BIN) serve $(ARGS)

# make bench: the pipeline against bare presigned PUTs and the verify path
# against bare gomemcache pairs (medians of alternating rounds in one run),
# each strategy's verify, then the hot paths. The machine is noisy: compare
# figures from one run.
BENCH_URLS ?= 5000
bench:
	$(GO) test -run '^$$' -bench 'PipelineVsBare|VerifyVsBareMemcached|Verify$$' -benchtime $(BENCH_URLS)x ./emulator/
	$(GO) test -run '^$$' -bench . -benchmem ./emulator/s3auth/ ./emulator/s3event/

# make mutate: mutation testing with gremlins (from the Go module proxy) of
# the one-time logic, the S3 signature checks and the checker, one package
# at a time. Slow (minutes per package), so not part of make test; README
# "Mutation testing" has the scores. A test binary is rebuilt per mutant:
# the generous timeout coefficient keeps slow builds from passing as
# timeouts.
GREMLINS      ?= $(GO) run github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
MUTATE_PKGS   ?= ./emulator/onetime ./emulator/s3auth ./loadtest/check
MUTATE_FLAGS  ?= --invert-logical --workers 1 --test-cpu 1 --timeout-coefficient 60
mutate:
	@set -e; for p in $(MUTATE_PKGS); do echo "== gremlins $$p"; $(GREMLINS) unleash $(MUTATE_FLAGS) $$p; done

memcached-image:
	bash build/memcached-image/build.sh $(IMAGE)

fmt:
	gofmt -w .

clean:
	rm -rf bin
