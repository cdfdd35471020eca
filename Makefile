# toptraffic: the two commands a newcomer needs are `make run` and `make test`.
# Every target installs or starts what it needs; nothing has to be set up by hand.

SHELL := /bin/bash
GO    ?= go
# Every package of every module in go.work.
PKGS   = $(shell $(GO) list -m -f '{{.Path}}/...')
SERVICES := ingest aggregator query devbroker

.PHONY: all build run test test-kafka test-integration bench fmt lint vet fuzz \
        kafka-up kafka-down up down clean

all: build

## build: compile every service into bin/
build:
	@mkdir -p bin
	@for s in $(SERVICES); do \
		$(GO) build -o bin/$$s ./services/$$s/cmd/$$s || exit 1; \
	done
	@echo "built: $(addprefix bin/,$(SERVICES))"

## run: the whole stack on the embedded broker (or on KAFKA_BROKERS); Ctrl-C stops it
run: build
	@scripts/run-stack

## test: every test of every module, race detector on (also runs the fuzz corpora as tests)
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## test-kafka: start a local Apache Kafka, run the integration and fault suites on it, stop it
test-kafka:
	@scripts/test-kafka

## fuzz: fuzz the ingest parser briefly (FUZZTIME=30s by default)
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $${FUZZTIME:-30s} ./libs/counter/

## bench: the pipeline against its physical limits (BENCHMARKS.md), then every micro-benchmark.
## BENCH_QUICK=1: ~2 minutes; KAFKA_BROKERS=127.0.0.1:9092: real Kafka instead of the devbroker;
## BENCH_PROFILE=1: CPU profiles of the gateway and the aggregator; results in BENCH_OUT
bench:
	@$(MAKE) --no-print-directory build
	$(GO) build -o bin/bench ./scripts/bench
	bin/bench -out $${BENCH_OUT:-bin/bench-results}
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchmem -count $${BENCH_COUNT:-1} \
		-benchtime $$([[ -n "$${BENCH_QUICK:-}" ]] && echo 100ms || echo 1s) $(PKGS) \
		| tee $${BENCH_OUT:-bin/bench-results}/micro.txt

## fmt: format all Go code
fmt:
	gofmt -w $$(git ls-files '*.go')

## lint: formatting and vet
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then \
		echo "not gofmt-clean:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

## kafka-up / kafka-down: a real Apache Kafka broker on 127.0.0.1:9092 (needs Java and Maven)
kafka-up:
	@scripts/kafka-local start

kafka-down:
	@scripts/kafka-local stop

## up / down: the docker-compose deployment (needs a Docker engine)
up:
	docker compose up -d --build

down:
	docker compose down

clean:
	rm -rf bin
