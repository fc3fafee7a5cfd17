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

.PHONY: all build test loadtest serve soak bench mutate memcached-image vet fmt clean lambda

all: build

build:
	$(GO) build -o $(BIN) ./cmd/uploadonce
	$(GO) build -o bin/lambda ./cmd/lambda

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 10m ./...

# make lambda: the deployment packages of cmd/lambda, one static bootstrap
# per architecture (DESIGN §4), for deploy/template.yaml.
DIST         ?= dist
LAMBDA_BUILD := CGO_ENABLED=0 GOOS=linux $(GO) build -tags lambda.norpc -trimpath
lambda:
	mkdir -p $(DIST)/arm64 $(DIST)/x86_64
	GOARCH=arm64 $(LAMBDA_BUILD) -o $(DIST)/arm64/bootstrap ./cmd/lambda
	GOARCH=amd64 $(LAMBDA_BUILD) -o $(DIST)/x86_64/bootstrap ./cmd/lambda
	$(GO) run ./deploy/lambdazip $(DIST)/lambda-arm64.zip $(DIST)/arm64/bootstrap
	$(GO) run ./deploy/lambdazip $(DIST)/lambda-x86_64.zip $(DIST)/x86_64/bootstrap

# sam build runs these for deploy/template.yaml (BuildMethod: makefile), in
# a copy of the repository with ARTIFACTS_DIR set. The template's functions
# are arm64.
.PHONY: build-IssueFunction build-VerifyFunction
build-IssueFunction build-VerifyFunction:
	GOARCH=arm64 $(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./cmd/lambda

loadtest: build
	./$(BIN) loadtest $(LOADTEST_FLAGS)

serve: build
	./$(BIN) serve $(ARGS)

# make soak: issue 16's soak. It starts serve on loopback (embedded
# memcached, so the tokens count in its memory too), drives it with
# uploadonce soak for SOAK_DURATION at SOAK_RATE URLs/s (1 KiB bodies, 20%
# of URLs uploaded twice) and judges the resident set's growth from minute
# 1 to the end against the bytes accepted + 32 MiB; soak.json keeps the
# samples. ARGS go to serve.
SOAK_DURATION ?= 5m
SOAK_RATE     ?= 100
SOAK_LISTEN   ?= 127.0.0.1:4599
soak: build
	./$(BIN) serve --listen $(SOAK_LISTEN) --api-key soak --memcached embedded --log-level warn $(ARGS) > /dev/null & \
	pid=$$!; trap 'kill $$pid' EXIT; \
	./$(BIN) soak --target http://$(SOAK_LISTEN) --api-key soak --rate $(SOAK_RATE) --duration $(SOAK_DURATION) --report-json soak.json

# make bench: the pipeline against its skeleton (the same round trips and no
# other work) and the verify path against bare gomemcache pairs (medians of
# alternating rounds in one run), each strategy's verify, then the hot paths
# and the store, then the pipeline with bin/lambda behind the Runtime API
# beside the in-process one. The machine is noisy: compare figures from one
# run.
BENCH_URLS ?= 5000
bench:
	$(GO) test -run '^$$' -bench 'PipelineVsSkeleton|VerifyVsBareMemcached|Verify$$' -benchtime $(BENCH_URLS)x ./emulator/
	$(GO) test -run '^$$' -bench . -benchmem ./emulator/s3auth/ ./emulator/s3event/ ./emulator/s3store/
	$(GO) test -run '^$$' -bench FunctionVsInProcess -benchtime 1000x ./emulator/

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
	rm -rf bin dist
