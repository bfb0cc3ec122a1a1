# hardneg — one entry point for building, running and testing.
# `make run` starts the server on ./data; `make test` runs every test. Both install
# what they need (Go tools from the Go module proxy via tools/go.mod, Python packages
# from PyPI into .venv).

GO        ?= go
PYTHON    ?= python3
VENV      := .venv
VPY       := $(VENV)/bin/python
TOOL      := $(GO) tool -modfile=tools/go.mod
BIN       := bin/miner-server
RUN_ARGS  ?=
GOTESTFLAGS ?= -race -count=1 -timeout 20m

.DEFAULT_GOAL := help

.PHONY: help
help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The version and revision the binary reports (-version, hardneg_build_info).
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.revision=$(REVISION)

.PHONY: build
build: ## build bin/miner-server (VERSION and REVISION default to git describe and HEAD)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/miner-server

.PHONY: run
run: build ## start the server on ./data (gRPC :50051, HTTP :9464); RUN_ARGS adds flags
	./$(BIN) $(RUN_ARGS)

.PHONY: probe
probe: ## ask a running server's gRPC health service (ADDR=127.0.0.1:50051)
	$(TOOL) grpc-health-probe -addr=$(or $(ADDR),127.0.0.1:50051)

$(VENV)/.stamp: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r requirements-dev.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.stamp ## create .venv with the Python tools

.PHONY: generate
generate: $(VENV)/.stamp ## regenerate Go and Python stubs from proto/
	$(TOOL) buf generate
	$(VPY) -m grpc_tools.protoc -Iproto --python_out=clients/python/src --pyi_out=clients/python/src \
		--grpc_python_out=clients/python/src proto/hardneg/v1/hardneg.proto

.PHONY: checkgenerate
checkgenerate: generate ## fail if committed generated code is not current
	@git diff --exit-code -- gen clients/python/src/hardneg/v1 || \
		{ echo "generated code is stale: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- gen clients/python/src/hardneg/v1)" || \
		{ git status --short -- gen clients/python/src/hardneg/v1; echo "untracked generated files"; exit 1; }

.PHONY: lint
lint: ## buf lint, gofmt, go vet
	$(TOOL) buf lint
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
		test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet ./...

.PHONY: test-go
test-go: chromium ## Go tests with the race detector, then the index's and mining's recall and mining's overlap with the reference without it (full size, lock order checked)
	$(GO) test $(GOTESTFLAGS) ./...
	$(GO) test -count=1 -timeout 20m -tags lockorder ./internal/index
	$(GO) test -count=1 -timeout 20m -run 'Recall|Churn' ./internal/index/hnsw
	$(GO) test -count=1 -timeout 20m -run 'TestDefaultEfRecallOfTheTopWindow|TestGraphMiningOverlapsTheReference' ./internal/mining

.PHONY: test-crash
test-crash: ## kill -9 / restart loop against a real server, CRASH_ITERATIONS times (default 200)
	HARDNEG_CRASH_ITERATIONS=$(or $(CRASH_ITERATIONS),200) $(GO) test -count=1 -run '^TestCrashLoop$$' -v ./cmd/miner-server

.PHONY: test-python
test-python: $(VENV)/.stamp build ## Python client tests against a real server; the make-bench region of docs/BENCHMARKS.md against docs/bench/results.json
	$(VPY) -m pip install --quiet './clients/python[test]'
	cd clients/python && HARDNEG_SERVER_BIN=$(CURDIR)/$(BIN) ../../$(VPY) -m pytest -q -p no:cacheprovider
	$(VPY) -m pytest -q -p no:cacheprovider bench/py/test_report.py bench/py/test_codes_study.py bench/py/test_patches.py

# The installs with torch go one distribution per pip call (pip_stepwise.py): a single
# call keeps every downloaded wheel (~3 GiB for torch and its CUDA libraries) on disk
# until it has installed them all.
PIP_STEPWISE := clients/python/scripts/pip_stepwise.py

.PHONY: test-examples
test-examples: $(VENV)/.stamp build ## smoke-test the examples (installs torch and a model: large)
	$(VPY) $(PIP_STEPWISE) './clients/python[examples]'
	cd clients/python && HARDNEG_SERVER_BIN=$(CURDIR)/$(BIN) ../../$(VPY) -m pytest -q -p no:cacheprovider -m 'examples or heavy'

# The differential tests against sentence-transformers (clients/python/tests/test_datasets_compat.py)
# and the hard-batch sampler with a DataLoader and MultipleNegativesRankingLoss
# (test_training_torch.py): torch, sentence-transformers, datasets and the offline
# all-MiniLM-L6-v2 model go into .venv.
.PHONY: test-compat
test-compat: $(VENV)/.stamp build ## hardneg.datasets vs sentence-transformers' mine_hard_negatives, cell by cell (installs torch: large)
	$(VPY) $(PIP_STEPWISE) './clients/python[test,compat]'
	cd clients/python && HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HARDNEG_SERVER_BIN=$(CURDIR)/$(BIN) \
		../../$(VPY) -m pytest -q -p no:cacheprovider -m compat

# Platform wheels of the Python client with a static miner-server inside (linux x86_64 and
# arm64), and a check that one installs and mines in a clean venv without Go.
WHEEL_DIR  := bin/wheels
WHEEL_ARCH := $(shell $(GO) env GOARCH)

.PHONY: wheels
wheels: $(VENV)/.stamp ## build platform wheels that bundle a static miner-server → bin/wheels/
	$(VPY) -m pip install --quiet 'wheel>=0.42'
	rm -rf $(WHEEL_DIR)
	$(VPY) clients/python/scripts/build_wheels.py --out $(WHEEL_DIR) --version $$(git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: test-wheel
test-wheel: wheels ## install this machine's wheel into a clean venv with no Go on PATH and mine a dataset end to end
	clients/python/scripts/check_wheel.sh $$(ls $(WHEEL_DIR)/hardneg-*$(if $(filter arm64,$(WHEEL_ARCH)),aarch64,x86_64)*.whl)


# The scale-out mode (docs/SCALE.md): a Weaviate cluster behind stateless miner-servers.
# weaviate-server is built from the Go module proxy outside this module into an ignored
# cache (cold: minutes and ~3 GB of Go caches; warm: seconds); the version is pinned here.
WEAVIATE_VERSION := v1.35.2
WEAVIATE_DIR     := .cache/weaviate/$(WEAVIATE_VERSION)
WEAVIATE_BIN     := $(WEAVIATE_DIR)/weaviate-server
CLUSTER          := deploy/cluster/cluster.sh

$(WEAVIATE_BIN):
	mkdir -p $(WEAVIATE_DIR)
	cd / && GOBIN=$(CURDIR)/$(WEAVIATE_DIR) GOFLAGS= nice $(GO) install github.com/weaviate/weaviate/cmd/weaviate-server@$(WEAVIATE_VERSION)

.PHONY: weaviate
weaviate: $(WEAVIATE_BIN) ## build weaviate-server $(WEAVIATE_VERSION) into .cache/weaviate (cached)

.PHONY: cluster-up
cluster-up: $(WEAVIATE_BIN) build ## start a 3-node Weaviate cluster on loopback ports and a miner-server -backend weaviate in front (.cache/cluster/state.env)
	$(CLUSTER) up $(WEAVIATE_BIN) $(BIN)

.PHONY: cluster-down
cluster-down: ## stop the cluster and the miner-server started by cluster-up, and remove their data
	$(CLUSTER) down

# The scale-out tests (build tag scaleout: the conformance suite and the fault tests,
# cmd/miner-server; the writer sweep, internal/engine/weaviate) against a fresh
# cluster, which is brought down afterwards whatever the outcome. Selected without a
# cluster they fail; plain `go test` never selects them.
.PHONY: test-scaleout
test-scaleout: $(WEAVIATE_BIN) build ## build (cached) weaviate, bring a 3-node cluster up, run the conformance suite and the fault tests on it, bring it down
	$(CLUSTER) down
	$(CLUSTER) up $(WEAVIATE_BIN) $(BIN)
	status=0; HARDNEG_CLUSTER_STATE=$(CURDIR)/.cache/cluster/state.env HARDNEG_SERVER_BIN=$(CURDIR)/$(BIN) \
		$(GO) test -tags scaleout -count=1 -timeout 20m -run '^Test(ConformanceWeaviate|Scaleout)' ./cmd/miner-server ./internal/engine/weaviate || status=$$?; \
		$(CLUSTER) down; exit $$status

.PHONY: bench-scaleout
bench-scaleout: $(WEAVIATE_BIN) build ## embedded vs Weaviate side by side on one set (BENCH_N synthetic vectors × 384, default 20,000, or BENCH_DATA=bench/out/data/real-15000 after make bench): ingest, Mine p50/p99, recall
	$(CLUSTER) down
	$(CLUSTER) up $(WEAVIATE_BIN) $(BIN)
	status=0; HARDNEG_CLUSTER_STATE=$(CURDIR)/.cache/cluster/state.env HARDNEG_BENCH_N=$(BENCH_N) HARDNEG_BENCH_DATA=$(if $(BENCH_DATA),$(abspath $(BENCH_DATA))) \
		$(GO) test -tags scaleout -count=1 -timeout 60m -v -run '^TestBenchScaleoutSideBySide$$' ./cmd/miner-server | grep -E 'data:|ingest|Mine|recall|rpc error|^(ok|FAIL|---)' || status=$$?; \
		$(CLUSTER) down; exit $$status

PROMTOOL  ?= promtool

# promtool comes from Debian's prometheus package, installed when missing (as root).
.PHONY: promtool
promtool: ## install promtool (Debian's prometheus package) for the alert-rule checks when missing (as root)
	@command -v $(PROMTOOL) >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
		else echo "promtool missing: apt-get install prometheus"; exit 1; fi; }

CHROMIUM ?= chromium

# Chromium (headless) drives the inspector's browser test (cmd/miner-server,
# TestInspectorInABrowser); it comes from Debian's chromium package, installed when
# missing (as root).
.PHONY: chromium
chromium: ## install Debian's chromium (headless) for the inspector's browser test when missing (as root)
	@command -v $(CHROMIUM) >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
		else echo "chromium missing: apt-get install chromium"; exit 1; fi; }

.PHONY: test-deploy
test-deploy: promtool build ## check and unit-test the alerts, build and strictly decode the k8s manifests, test the image smoke checks
	$(PROMTOOL) check rules deploy/prometheus/rules.yaml
	$(PROMTOOL) test rules deploy/prometheus/rules_test.yaml
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 ./...
	deploy/smoke_test.sh $(BIN) 50

.PHONY: deploy-update
deploy-update: ## regenerate deploy/k8s/prometheusrule.yaml from deploy/prometheus/rules.yaml
	cd deploy && $(GO) test -count=1 -run PrometheusRule ./... -args -update

.PHONY: image
image: ## assemble the image with buildah (no daemon), start and probe it, export bin/hardneg-miner-server.oci.tar
	deploy/image.sh bin/hardneg-miner-server.oci.tar

.PHONY: test
test: checkgenerate lint test-go test-python test-deploy image test-wheel ## everything CI runs but the sentence-transformers comparison (test-compat)

.PHONY: bench-go
bench-go: ## Go benchmarks of the index and kernels
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./internal/...

# The end-to-end comparison (docs/BENCHMARKS.md, "End-to-end comparison"): hardneg
# against hnswlib, faiss, coder/hnsw and sentence-transformers on the same data. Its
# Python packages (torch included: large) go into bench/.venv. CI does not run it.
BENCH_VENV := bench/.venv
BENCH_PY   := $(BENCH_VENV)/bin/python
BENCH_ARGS ?=

$(BENCH_VENV)/.stamp: bench/requirements.txt clients/python/pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet --upgrade pip
	$(BENCH_PY) -m pip install --quiet -r bench/requirements.txt ./clients/python
	touch $@

.PHONY: bench-venv
bench-venv: $(BENCH_VENV)/.stamp ## create bench/.venv with the comparison's Python packages (hnswlib, faiss, sentence-transformers)
	$(BENCH_PY) -m pip install --quiet --no-deps --force-reinstall ./clients/python

.PHONY: bench-bin
bench-bin: build ## build bin/hardneg-bench, the in-process index benchmark
	$(GO) build -o bin/hardneg-bench ./bench/cmd/hardneg-bench

.PHONY: bench
bench: bench-venv bench-bin ## full comparison (100k synthetic + real embeddings; LARGE=1 adds 1M) → docs/BENCHMARKS.md, docs/bench/*.png
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BENCH_PY) bench/py/run.py --mode full $(if $(LARGE),--large) --out bench/out/full/results.json $(BENCH_ARGS)
	$(BENCH_PY) bench/py/report.py bench/out/full/results.json --doc docs/BENCHMARKS.md --plots docs/bench \
		--cmd "make bench$(if $(LARGE), LARGE=1)"
	cp bench/out/full/results.json docs/bench/results.json

# The 1M × 384 set on its own (index systems: LARGE_SYSTEMS), joined to the last make
# bench run kept in docs/bench/results.json; the report names each run.
LARGE_SYSTEMS ?= hardneg,hnswlib,faiss-flat,faiss-hnsw
.PHONY: bench-large
bench-large: bench-venv bench-bin ## the 1M × 384 set alone (about 1.5 h on 2 cores; 51 min without faiss-hnsw), joined to the last make bench run in docs/BENCHMARKS.md
	$(BENCH_PY) bench/py/run.py --mode full --only-large --large-systems $(LARGE_SYSTEMS) --out bench/out/large/results.json $(BENCH_ARGS)
	$(BENCH_PY) bench/py/report.py docs/bench/results.json --add bench/out/large/results.json --doc docs/BENCHMARKS.md \
		--plots docs/bench --cmd "make bench" --write-results docs/bench/results.json

.PHONY: bench-quick
bench-quick: bench-venv bench-bin ## the same comparison at 20k vectors in under 3 minutes → bench/out/quick/
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BENCH_PY) bench/py/run.py --mode quick --out bench/out/quick/results.json $(BENCH_ARGS)
	$(BENCH_PY) bench/py/report.py bench/out/quick/results.json --doc bench/out/quick/BENCHMARKS.md --plots bench/out/quick \
		--cmd "make bench-quick"
	@echo "report: bench/out/quick/BENCHMARKS.md"

# The mining-quality evaluation (docs/QUALITY.md, eval/FINDINGS.md): real labelled text,
# the real server, sentence-transformers as the reference. Its pinned Python packages
# (torch included: large) go into eval/.venv; data, models and embeddings are cached in
# eval/cache. CI does not run it.
EVAL_VENV := eval/.venv
EVAL_PY   := $(EVAL_VENV)/bin/python
EVAL_ARGS ?=

$(EVAL_VENV)/.stamp: eval/requirements.txt
	$(PYTHON) -m venv $(EVAL_VENV)
	$(EVAL_PY) -m pip install --quiet --upgrade pip
	$(EVAL_PY) -m pip install --quiet -r eval/requirements.txt
	touch $@

.PHONY: eval
eval: $(EVAL_VENV)/.stamp ## mining quality on real labelled sets → docs/QUALITY.md, docs/QUALITY-mpnet.md, docs/QUALITY-wordllama.md, eval/FINDINGS.md (not part of test)
	t0=$$(date +%s) && export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 && \
		$(EVAL_PY) eval/findings.py && $(EVAL_PY) eval/quality.py --started $$t0 $(EVAL_ARGS) && \
		$(EVAL_PY) eval/quality.py --model mpnet --doc docs/QUALITY-mpnet.md --out eval/out/results-mpnet.json $(EVAL_ARGS) && \
		$(EVAL_PY) eval/quality.py --model wordllama --doc docs/QUALITY-wordllama.md --out eval/out/results-wordllama.json $(EVAL_ARGS)

# Does hardneg train better models? Fine-tunes all-MiniLM-L6-v2 on CPU with five sources of
# negatives and three seeds, through the real server (bin/miner-server) and the Python client
# → docs/training/results.{json,png} and the generated section of docs/TRAINING.md. Uses the
# eval venv and cache; not part of test. EXPERIMENT_ARGS=--quick is a smoke run.
EXPERIMENT_ARGS ?=

.PHONY: experiment
experiment: $(EVAL_VENV)/.stamp build ## fine-tune all-MiniLM-L6-v2 with 5 negative sources × 3 seeds → docs/TRAINING.md (31 min on 2 shared cores with a warm eval/cache; not part of test)
	export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 && $(EVAL_PY) eval/experiment.py $(EXPERIMENT_ARGS)

.PHONY: test-experiment
test-experiment: $(EVAL_VENV)/.stamp build ## self-checks of eval/experiment.py and its --quick run (about a minute with a warm eval/cache)
	export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 && $(EVAL_PY) eval/test_experiment.py

.PHONY: clean
clean: ## remove build outputs
	rm -rf bin
