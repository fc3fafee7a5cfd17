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

.PHONY: all build test loadtest serve bench memcached-image vet fmt clean

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

# make bench: the pipeline against its skeleton (the same round trips and no
# other work) and the verify path against bare gomemcache pairs (medians of
# alternating rounds in one run), each strategy's verify, then the hot paths
# and the store. The machine is noisy: compare figures from one run.
BENCH_URLS ?= 5000
bench:
	$(GO) test -run '^$$' -bench 'PipelineVsSkeleton|VerifyVsBareMemcached|Verify$$' -benchtime $(BENCH_URLS)x ./emulator/
	$(GO) test -run '^$$' -bench . -benchmem ./emulator/s3auth/ ./emulator/s3event/ ./emulator/s3store/

memcached-image:
	bash build/memcached-image/build.sh $(IMAGE)

fmt:
	gofmt -w .

clean:
	rm -rf bin
