# imglish — see README.md. Two commands matter: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
DEPS := .deps
ORT_VERSION := 1.30.0
ORT_LIB := $(DEPS)/ort/libonnxruntime.so.1
ORT_SHA256 := ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
BIN := bin/imglish
export IMGLISH_ORT_LIB ?= $(abspath $(ORT_LIB))

.PHONY: all setup build test vet run bench bench-ann bench-store bench-tokenizer clean

all: build

## setup: fetch the ONNX Runtime shared library (npm onnxruntime-node) once, checked by sha256.
setup: $(ORT_LIB)

$(ORT_LIB):
	@mkdir -p $(DEPS)/ort $(DEPS)/npm
	cd $(DEPS)/npm && npm pack --silent onnxruntime-node@$(ORT_VERSION) >/dev/null
	tar -xzf $(DEPS)/npm/onnxruntime-node-$(ORT_VERSION).tgz -C $(DEPS)/npm package/bin/napi-v6/linux/x64/libonnxruntime.so.1
	echo "$(ORT_SHA256)  $(DEPS)/npm/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" | sha256sum -c --quiet
	mv $(DEPS)/npm/package/bin/napi-v6/linux/x64/libonnxruntime.so.1 $@.tmp && mv $@.tmp $@
	rm -rf $(DEPS)/npm

## setup-gpu: the CUDA 13 build of ORT 1.29 (npm com.github.asus4.onnxruntime{,.linux-x64-gpu}@0.4.9) into
## .deps/ort-gpu/, checked by sha256; needs the NVIDIA driver and CUDA 13 runtime/cuBLAS/cuRAND 10 at run time.
ORT_GPU := $(DEPS)/ort-gpu
ORT_GPU_PKG := 0.4.9
ORT_GPU_SUMS := 5715f06d8992ca8eeeddcce43df3a7d38f97d537052126f558e912cb312460ca  libonnxruntime.so\n56cf3254b118ad837ccc4ed8f6d1b23504bbf7ef91b34cbc0b289cb7f10b3037  libonnxruntime_providers_cuda.so\nc6a12593396095f5670160e284c35d1700b7708cf3037b7042e2a5200ccae772  libonnxruntime_providers_shared.so
.PHONY: setup-gpu
setup-gpu: $(ORT_GPU)/libonnxruntime.so

$(ORT_GPU)/libonnxruntime.so:
	@rm -rf $(DEPS)/npm-gpu && mkdir -p $(DEPS)/npm-gpu/x $(ORT_GPU)
	cd $(DEPS)/npm-gpu && npm pack --silent com.github.asus4.onnxruntime@$(ORT_GPU_PKG) com.github.asus4.onnxruntime.linux-x64-gpu@$(ORT_GPU_PKG) >/dev/null
	tar -xzf $(DEPS)/npm-gpu/com.github.asus4.onnxruntime-$(ORT_GPU_PKG).tgz -C $(DEPS)/npm-gpu/x package/Plugins/Linux/x64/libonnxruntime.so
	tar -xzf $(DEPS)/npm-gpu/com.github.asus4.onnxruntime.linux-x64-gpu-$(ORT_GPU_PKG).tgz -C $(DEPS)/npm-gpu/x \
		package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so package/Plugins/Linux/x64/libonnxruntime_providers_shared.so
	cd $(DEPS)/npm-gpu/x/package/Plugins/Linux/x64 && printf '$(ORT_GPU_SUMS)\n' | sha256sum -c --quiet
	mv $(DEPS)/npm-gpu/x/package/Plugins/Linux/x64/libonnxruntime_providers_*.so $(ORT_GPU)/
	mv $(DEPS)/npm-gpu/x/package/Plugins/Linux/x64/libonnxruntime.so $@.tmp && mv $@.tmp $@
	rm -rf $(DEPS)/npm-gpu

## setup-weaviate: build weaviate-server (internal/wvcluster.Version; keep the two equal) into .deps/weaviate/VERSION/ from the Go
## module proxy, once (≈3–6 min on 2 cores the first time; Go's build cache keeps it). The Weaviate tests run it.
WEAVIATE_VERSION := v1.35.2
WEAVIATE_BIN := $(DEPS)/weaviate/$(WEAVIATE_VERSION)/weaviate-server
.PHONY: setup-weaviate
setup-weaviate: $(WEAVIATE_BIN)

$(WEAVIATE_BIN):
	@mkdir -p $(dir $@)
	GOBIN=$(abspath $(dir $@)) $(GO) install github.com/weaviate/weaviate/cmd/weaviate-server@$(WEAVIATE_VERSION)

build: setup
	$(GO) build -o $(BIN) ./cmd/imglish

## vet: go vet, also over the benchmarks behind the bench build tag (so a refactor cannot leave them uncompilable).
vet:
	$(GO) vet ./...
	$(GO) vet -tags bench ./...

## test: set up (ORT; Chromium for the page's end-to-end test when root can install it; weaviate-server for the
## Weaviate tests), vet, lint the OpenAPI document, and run every test with the race detector.
test: setup setup-browser setup-weaviate vet lint-openapi
	$(GO) test -race -timeout 20m ./...

## lint-openapi: lint server/openapi.json with Redocly CLI, pinned by tools/openapi/package-lock.json and
## installed there by npm ci; tools/openapi/redocly.yaml says which rules run and why. Any finding fails.
OPENAPI_TOOLS := tools/openapi
REDOCLY := $(OPENAPI_TOOLS)/node_modules/.bin/redocly
.PHONY: lint-openapi
lint-openapi: $(REDOCLY)
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
		$(REDOCLY) lint --config $(OPENAPI_TOOLS)/redocly.yaml server/openapi.json

$(REDOCLY): $(OPENAPI_TOOLS)/package.json $(OPENAPI_TOOLS)/package-lock.json
	cd $(OPENAPI_TOOLS) && npm ci --no-audit --no-fund
	touch $@

## run: the demo: convert the bundled demo checkpoint, render a demo collection of synthetic scenes, index it,
## and serve the page and API on http://127.0.0.1:8080 (auth off, loopback only). State lives in .run/.
## A real model and a real folder in one line: make run MODEL=beit3-base-coco PHOTOS=~/Pictures
## (MODEL is pulled with `imglish model pull`; PHOTOS is indexed in place and watched).
RUN_DIR := .run
DEMO_DIR := testdata/models/demo
ADDR ?= 127.0.0.1:8080
DEMO_SCENES ?= 300
RUN_MODEL = $(or $(MODEL),$(RUN_DIR)/model)
# The demo set: images in scenes/images (the indexed folder holds only images), captions.tsv and
# scenes.jsonl beside it.
RUN_SCENES := $(RUN_DIR)/scenes
RUN_PHOTOS = $(abspath $(or $(PHOTOS),$(RUN_SCENES)/images))

$(RUN_DIR)/model/model.json: $(DEMO_DIR)/demo.pth $(DEMO_DIR)/demo.model | build
	rm -rf $(RUN_DIR)/model
	$(BIN) convert --checkpoint $(DEMO_DIR)/demo.pth --tokenizer $(DEMO_DIR)/demo.model --out $(RUN_DIR)/model

# Remade when the scene generator changes (the demo model is trained on its world).
# .run/photos is the layout before the images got their own folder: it goes with the store that indexed it.
$(RUN_SCENES)/captions.tsv: $(filter-out %_test.go,$(wildcard demo/scene/*.go)) | build
	@if [ -d $(RUN_DIR)/photos ]; then echo "rm -rf $(RUN_DIR)/photos $(RUN_DIR)/data (the demo scenes moved to $(RUN_SCENES))"; rm -rf $(RUN_DIR)/photos $(RUN_DIR)/data; fi
	rm -rf $(RUN_SCENES)
	$(BIN) demo scenes --split test --n $(DEMO_SCENES) --out $(RUN_SCENES)

## BACKEND=weaviate: the same on a fresh Weaviate cluster of NODES (3) nodes started in the background on loopback
## (internal/wvcluster/cmd/wvcluster; data and logs in .run/cluster, wiped at start since ports are new each time),
## the demo collection indexed into it and imglish serving from it; Ctrl-C stops imglish, then the cluster.
BACKEND ?= embedded
RUN_URLS := $(RUN_DIR)/cluster/urls
RUN_GRPC := $(RUN_DIR)/cluster/grpc
WVCLUSTER := bin/wvcluster

ifeq ($(BACKEND),weaviate)
run: build setup-weaviate $(if $(MODEL),,$(RUN_DIR)/model/model.json) $(if $(PHOTOS),,$(RUN_SCENES)/captions.tsv)
	$(GO) build -o $(WVCLUSTER) ./internal/wvcluster/cmd/wvcluster
	rm -rf $(RUN_DIR)/cluster && mkdir -p $(RUN_DIR)/cluster
	$(WVCLUSTER) -nodes $(NODES) -dir $(RUN_DIR)/cluster -urls-file $(RUN_URLS) -grpc-file $(RUN_GRPC) >$(RUN_DIR)/cluster/wvcluster.log 2>&1 & wv=$$!; \
	trap 'kill $$wv 2>/dev/null; wait $$wv' EXIT; trap 'exit 130' INT TERM; \
	echo "imglish: starting $(NODES) Weaviate nodes (log $(RUN_DIR)/cluster/wvcluster.log)"; \
	for i in $$(seq 600); do [ -s $(RUN_URLS) ] && break; kill -0 $$wv 2>/dev/null || { cat $(RUN_DIR)/cluster/wvcluster.log; exit 1; }; sleep 0.5; done; \
	[ -s $(RUN_URLS) ] || { echo "imglish: the cluster was not ready in 5 min (see $(RUN_DIR)/cluster/*.log)"; exit 1; }; \
	export IMGLISH_BACKEND=weaviate IMGLISH_WEAVIATE=$$(cat $(RUN_URLS)) IMGLISH_WEAVIATE_GRPC=$$(cat $(RUN_GRPC)); \
	echo "imglish: weaviate $$IMGLISH_WEAVIATE (gRPC $$IMGLISH_WEAVIATE_GRPC)"; \
	$(if $(MODEL),$(BIN) --data $(RUN_DIR)/data-weaviate model pull $(MODEL) &&) \
	$(BIN) --data $(RUN_DIR)/data-weaviate --model $(RUN_MODEL) index -q $(RUN_PHOTOS) && \
	echo "imglish: open http://$(ADDR)/ (Ctrl-C stops imglish and the cluster)" && \
	$(BIN) --data $(RUN_DIR)/data-weaviate --model $(RUN_MODEL) serve --addr $(ADDR) --no-auth --index-root $(RUN_PHOTOS) \
		$(if $(PHOTOS),--watch $(RUN_PHOTOS))
else
run: build $(if $(MODEL),,$(RUN_DIR)/model/model.json) $(if $(PHOTOS),,$(RUN_SCENES)/captions.tsv)
	$(if $(MODEL),$(BIN) --data $(RUN_DIR)/data model pull $(MODEL))
	$(BIN) --data $(RUN_DIR)/data --model $(RUN_MODEL) index -q $(RUN_PHOTOS)
	@echo "imglish: open http://$(ADDR)/ (Ctrl-C stops)"
	$(BIN) --data $(RUN_DIR)/data --model $(RUN_MODEL) serve --addr $(ADDR) --no-auth --index-root $(RUN_PHOTOS) \
		$(if $(PHOTOS),--watch $(RUN_PHOTOS))
endif

## bench: the benchmark report, written whole from one run on this machine: bench/REPORT.md (and bench/out/REPORT.md,
## report.json). bench/run.sh: the CPU's peak, ORT's GEMM, which OpenBLAS kernels PyTorch gets and should get, the
## encoder (imglish fp32/int8 vs the PyTorch reference) and the ANN benchmark in BENCH_ROUNDS (3) interleaved rounds,
## where an image's time goes (ORT's profiler), the quantised store vs the float store (bench-quant), indexing, HTTP, the Weaviate cluster and batch transport benches (bench-cluster, bench-transport); ~37 min on 2 quiet cores, nothing else in parallel. BENCH_QUICK=1: small sizes, 2 rounds, a few minutes, written to
## bench/out only (BENCH_PUBLISH=1 writes bench/REPORT.md too). Sets up its Debian packages first (setup-bench).
bench: build setup-bench setup-weaviate
	bench/run.sh

## bench-ann: imglish HNSW vs hnswlib compiled here with g++ -O3 -march=native (needs libhnswlib-dev), interleaved
## in 3 rounds, then one vs two search threads (imglish float and int8, native hnswlib) in 5, plus Debian's Python
## hnswlib, coder/hnsw and exact scan, 100k×768 (≈10 min; search/README.md).
bench-ann: setup-bench-ann
	nice $(GO) run ./search/annbench -out bench/out/ann -coder-n 50000

## bench-ann-quant: the float index vs the int8-quantised one (exact re-rank through a source) on the same 100k×768
## data, interleaved in 2 rounds: heap bytes/vector, recall@10, QPS, source reads per query, 10M projection (≈5 min).
.PHONY: bench-ann-quant
bench-ann-quant:
	nice $(GO) run ./search/annbench -quant -rounds 2 -ef 16,24,32,64 -out bench/out/ann

## setup-bench: everything `make bench` needs beyond Go, as root on a clean Debian machine, installed once (checked
## before apt-get): the PyTorch reference (python3-torch, python3-sentencepiece, python3-pil from Debian, run by
## /usr/bin/python3; the python3 first on PATH may be another build without them) with the pthread OpenBLAS (without
## it Debian's torch falls back to a BLAS ~50× slower), and the ANN references (setup-bench-ann).
.PHONY: setup-bench
setup-bench: setup-bench-ann
	@/usr/bin/python3 -c 'import torch, sentencepiece, PIL' 2>/dev/null && \
		dpkg-query -W -f '$${Status}' libopenblas0-pthread 2>/dev/null | grep -q 'ok installed' || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-sentencepiece python3-pil libopenblas0-pthread; }

## setup-bench-ann: the ANN benchmark's references from Debian (hnswlib's headers for the native build, g++, and
## the Python hnswlib for the second row); installed once, as root.
.PHONY: setup-bench-ann
setup-bench-ann:
	@test -f /usr/include/hnswlib/hnswlib.h && command -v g++ >/dev/null && /usr/bin/python3 -c 'import hnswlib' 2>/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libhnswlib-dev g++ python3-hnswlib; }

## bench-store: open time of a 1M×768 store (writes ~3.5 GB to a temp dir) and the crash soak.
bench-store:
	nice $(GO) test -tags bench -run 'TestOpenLarge|TestCrashSoak' -v -timeout 60m ./store/

.PHONY: bench-quant
## bench-quant: the embedded store with int8-quantised image spaces (--quantize) vs floats, both built through Apply on
## the ANN bench's 100k×768 data: index heap per vector, heap per open, vector file, build rate, open time, recall@10 and
## QPS per ef, interleaved in 3 rounds (writes bench/out/quant.md; a few minutes; IMGLISH_QUANT_N=1000000
## IMGLISH_QUANT_EF=32,64,128,256,512 for a million, ~40 min and ~12 GB of RAM). IMGLISH_OPEN_QUANT=1 make bench-store opens the 1M store quantised.
bench-quant:
	@mkdir -p bench/out
	IMGLISH_BENCH_OUT=$(abspath bench/out/quant.md) nice $(GO) test -tags bench -count=1 -run TestQuantBench -v -timeout 90m ./store/

## bench-tokenizer: SentencePiece encode throughput (tokens/s) and load time per test model, one core.
bench-tokenizer:
	$(GO) test -run '^$$' -bench . -benchtime 20x -cpu 1 ./encoder/tokenizer/

.PHONY: bench-index
## bench-index: indexing vs encoder-only vs files→vectors img/s, demo and base-shaped models, demo scenes and
## 320–640 px photos, best of 2 (≈10 min; indexer/doc.go "Throughput"). IMGLISH_BENCH_IMAGES=N to resize.
bench-index: setup
	$(GO) test -run '^$$' -bench IndexVsEncoder -benchtime 2x -timeout 60m ./indexer/

.PHONY: setup-browser bench-server
## setup-browser: headless Chromium + chromedriver for the web page's end-to-end test (Debian packages;
## idempotent). Only root installs them: for anyone else without them it prints one line and succeeds, so
## `make test` goes on and that test skips; under CI (CI set, not false) it fails instead, as the test would.
setup-browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else case "$${CI:-false}" in \
		0|f|F|false|FALSE|False) echo "setup-browser: no Chromium/chromedriver and not root, so not installed: the web page's end-to-end test will skip (sudo make setup-browser installs them)";; \
		*) echo "setup-browser: CI=$$CI needs Chromium and chromedriver, and only root can install them (apt-get install chromium chromium-driver)" >&2; exit 1;; \
	esac; fi

## bench-server: req/s, p50/p99 and server CPU-ms per request of text search over loopback HTTP at 1/8/32
## clients (load generator in its own process), default vs old default vs unbatched request paths, rounds
## interleaved; demo model on 100k vectors and a random BEiT-3 base (768 wide, 12 layers) on 20k, its
## checkpoint made once with Debian's python3-torch (writes bench/out/server.txt; ≈20 min).
BENCH_BASE_CHECKPOINT ?= bench/out/base224.pth
bench-server: setup
	@mkdir -p bench/out
	@if [ ! -f $(BENCH_BASE_CHECKPOINT) ]; then \
		if /usr/bin/python3 -c 'import torch' 2>/dev/null; then \
			nice /usr/bin/python3 tools/reference/make_checkpoint.py --size base --img 224 --out $(BENCH_BASE_CHECKPOINT); \
		else echo "no python3-torch: the base model is skipped (apt-get install python3-torch)"; fi; \
	fi
	IMGLISH_BENCH_OUT=$(abspath bench/out/server.txt) \
	IMGLISH_BENCH_BASE_CHECKPOINT=$$([ -f $(BENCH_BASE_CHECKPOINT) ] && echo $(abspath $(BENCH_BASE_CHECKPOINT))) \
		nice $(GO) test -tags bench -run TestServeLatency -v -timeout 90m ./server/

.PHONY: test-faults
## test-faults: just the Weaviate fault tests, which make test runs too (node3, then node1, SIGKILLed while
## indexing 2,000 images into a 3-node cluster and restarted; the indexer SIGKILLed and resumed); -v shows their
## figures (acknowledged items, retries, searches during the outage, catch-up time). IMGLISH_WVFAULT_KEEP=1 keeps
## the cluster's folder (node logs), which a failing run always keeps.
test-faults: setup setup-weaviate
	$(GO) test -race -count=1 -run 'TestNodeKilledWhileIndexing|TestIndexerKilledResumes' -v ./vstore/weaviate/

.PHONY: test-server-weaviate
## test-server-weaviate: every server test on Weaviate (IMGLISH_TEST_BACKEND=weaviate: each test's store is a namespace
## on one shared node), to show every route behaves as on the embedded store. Out of make test: the paging tests'
## thousands of items go through the Weaviate store's exact path, which reads the whole class per page.
test-server-weaviate: setup setup-weaviate
	IMGLISH_TEST_BACKEND=weaviate $(GO) test -count=1 -timeout 60m ./server/

.PHONY: cluster
## cluster: a fresh 3-node Weaviate cluster on loopback for trying things by hand (NODES=N; data and logs in
## .run/cluster, wiped at start since ports are new each time; Ctrl-C stops it). CLUSTER_ENV="ENABLE_MODULES=multi2vec-clip CLIP_INFERENCE_API=http://127.0.0.1:8081" adds env.
NODES ?= 3
cluster: setup-weaviate
	rm -rf $(RUN_DIR)/cluster
	$(GO) run ./internal/wvcluster/cmd/wvcluster -nodes $(NODES) -dir $(RUN_DIR)/cluster $(foreach e,$(CLUSTER_ENV),-env $(e))

.PHONY: bench-weaviate
## bench-weaviate: Weaviate inserts vectorised by `imglish serve --vectorizer-addr` vs imglish's own indexing of the
## same scenes, demo and base-shaped models (writes bench/out/weaviate.txt; ≈1 min).
bench-weaviate: setup setup-weaviate
	@mkdir -p bench/out
	IMGLISH_BENCH_OUT=$(abspath bench/out/weaviate.txt) $(GO) test -tags bench -run TestWeaviateVectorizerThroughput -v -timeout 30m ./cmd/imglish/

.PHONY: bench-cluster
## bench-cluster: the embedded store vs a 1-node and a 3-node Weaviate cluster (2 replicas, 3 shards) in one run: inserts,
## search p50/p99 at 1/8/32 clients and recall@10 on the ANN bench's 100k×768 vectors, where a cluster's time goes,
## bytes per object and the nodes 10M/100M photos need, and the demo model end to end (writes bench/out/cluster.md;
## ≈15–20 min on 2 cores). BENCH_CLUSTER_N=5000 for a quick check; BENCH_CLUSTER_Q, _SCENES, _REPLICAS resize the rest.
bench-cluster: setup setup-weaviate
	@mkdir -p bench/out
	IMGLISH_BENCH_OUT=$(abspath bench/out/cluster.md) nice $(GO) test -tags bench -count=1 -run TestClusterBench -v -timeout 90m ./cmd/imglish/

.PHONY: bench-transport
## bench-transport: object batches over REST vs gRPC into a 1-node and a 3-node Weaviate cluster, interleaved chunk by
## chunk: objects/s, client and node CPU per object (20k 768-d items; writes bench/out/transport.md; ≈5 min).
bench-transport: setup setup-weaviate
	@mkdir -p bench/out
	IMGLISH_BENCH_OUT=$(abspath bench/out/transport.md) nice $(GO) test -tags bench -count=1 -run TestBatchTransportBench -v -timeout 30m ./cmd/imglish/

.PHONY: fixtures bench-torch
## fixtures: regenerate testdata/reference/ (BEiT-3 parity checkpoints and goldens; Debian python3-torch).
fixtures:
	nice /usr/bin/python3 tools/reference/make_fixtures.py
	nice /usr/bin/python3 tools/reference/check_traps.py
	nice /usr/bin/python3 tools/reference/numpy_check.py

## bench-torch: the PyTorch reference encoder, base 384, 2 threads, with OpenBLAS's own choice of kernels (the
## caller's OPENBLAS_CORETYPE unset; `make bench` probes the cores and may set a stronger one for its reference).
bench-torch: setup-bench
	env -u OPENBLAS_CORETYPE nice /usr/bin/python3 tools/reference/bench_torch.py --size base --img 384 --threads 2 --batch 1,8 --json bench/out/torch.json

clean:
	rm -rf bin $(DEPS) $(RUN_DIR)
