#!/usr/bin/env bash
# make bench: one command, one run, one machine. bench/report turns what this
# leaves in bench/out into bench/out/REPORT.md and report.json, and (unless
# BENCH_QUICK) into bench/REPORT.md, whole. In order, never in parallel:
#   ORT's GEMM now (bench/ortinspect -gemm) and the CPU's multiply-add peak
#   (bench/cpupeak); which OpenBLAS kernels PyTorch gets here and which it
#   should (tools/reference/bench_torch.py --probe-cores); the encoder
#   comparison in BENCH_ROUNDS interleaved rounds (default 3; 2 with
#   BENCH_QUICK), each running imglish fp32, imglish int8 (bench/encbench on a
#   random base-384 checkpoint converted by imglish) and the PyTorch reference
#   once, in that order, with the load average around each round; when
#   OpenBLAS chose weaker kernels than the CPU has, the reference runs with
#   OPENBLAS_CORETYPE set to the probe's choice (that process only), and once
#   more in round 1 with OpenBLAS's default, as a labelled second row; where
#   an image's time goes (bench/ortinspect with ORT's profiler, fp32 and int8);
#   int8 drift and ranking agreement; the ANN benchmark (search/annbench:
#   imglish interleaved with hnswlib compiled here with g++ -O3 -march=native,
#   in as many rounds, then one vs two search threads); the quantised store
#   against the float store (store TestQuantBench, make bench-quant's, in as
#   many rounds); indexing throughput (indexer BenchmarkIndexVsEncoder) and
#   HTTP latency (server TestServeLatency, when that benchmark exists); the
#   embedded store against 1-node and 3-node Weaviate clusters
#   (cmd/imglish TestClusterBench, make bench-cluster's) and Weaviate
#   batches over REST vs gRPC (TestBatchTransportBench).
# Each step's command line goes to bench/out/commands.tsv, so the report says
# what produced each section. BENCH_QUICK=1 runs smaller sizes (a pipeline
# check, a few minutes; it does not replace bench/REPORT.md unless
# BENCH_PUBLISH=1); the full run takes ~37 min on 2 quiet cores (more when
# the machine is shared). BENCH_CHECKPOINT reuses a base-384 checkpoint (made once
# in bench/out/base384.pth). BENCH_OPENBLAS_CORETYPE=X runs the reference with
# OPENBLAS_CORETYPE=X whatever the probe chose (and the default row beside it).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
QUICK=${BENCH_QUICK:-}
GO=${GO:-go}
PY=/usr/bin/python3 # Debian's, with python3-torch; the python3 first on PATH may be another
BIN=bin/imglish
THREADS=2
ROUNDS=${BENCH_ROUNDS:-3}
[[ -n $QUICK ]] && ROUNDS=${BENCH_ROUNDS:-2}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_ROUNDS must be a positive integer, not '$ROUNDS'" >&2; exit 2; }
MIN=8; REPS=40; TREPS=20; BATCH=1,8; PASSES=3
[[ -n $QUICK ]] && { MIN=4; REPS=15; TREPS=6; BATCH=1,4; PASSES=2; }
log() { printf '== %s: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
# run KEY CMD...: note the command under KEY (the first time only: later rounds
# differ only in their output folder; the checkout's path written as $PWD), then run it.
run() {
  local key=$1
  shift
  local cmd="$*"
  grep -q "^$key"$'\t' "$OUT/commands.tsv" 2>/dev/null || printf '%s\t%s\n' "$key" "${cmd//$PWD\//\$PWD/}" >>"$OUT/commands.tsv"
  "$@"
}

# OpenBLAS's "default" row must be OpenBLAS's own choice: no OPENBLAS_* from
# the caller's environment (a machine may set OPENBLAS_CORETYPE globally).
CLEARED=
for v in $(compgen -e | grep '^OPENBLAS_' || true); do
  CLEARED+="$v=${!v} "
  unset "$v"
done

# Nothing from an earlier run may reach this report.
rm -rf "$OUT/rounds" "$OUT/ann/report.md" "$OUT/ann/report.json"
rm -f "$OUT"/{commands.tsv,gemm.json,peak.json,torch-cores.json,int8-drift.txt,profile-fp32.json,profile-int8.json,profile-fp32-spin.json,profile-int8-spin.json,int8rank.json,indexer.txt,quant.md,quant.log,http.md,http.log,cluster.md,cluster.log,transport.md,transport.log}
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "quick=${QUICK:-0}"
  echo "rounds=$ROUNDS"
  echo "threads=$THREADS"
  echo "load_start=$(load)"
  echo "go=$($GO env GOVERSION)"
  echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- encoder bench search tools/reference 2>/dev/null || echo +dirty)"
  echo "openblas_env_cleared=${CLEARED% }"
  echo "openblas=$(dpkg-query -W -f '${Version}' libopenblas0-pthread 2>/dev/null || echo none)"
} >"$OUT/meta.txt"

CK=${BENCH_CHECKPOINT:-$OUT/base384.pth}
if [[ ! -f $CK ]]; then
  log "making a random base-384 checkpoint ($CK)"
  nice $PY tools/reference/make_checkpoint.py --size base --out "$CK"
fi
for p in fp32 int8; do
  if [[ ! -f $OUT/models/base-$p/model.json || $CK -nt $OUT/models/base-$p/model.json || $BIN -nt $OUT/models/base-$p/model.json ]]; then
    log "converting base-384 $p"
    $BIN convert --checkpoint "$CK" --out "$OUT/models/base-$p" --precision $p
  fi
done

$GO build -o "$OUT/ortinspect" ./bench/ortinspect
$GO build -o "$OUT/encbench" ./bench/encbench
$GO build -o "$OUT/cpupeak" ./bench/cpupeak
log "GEMM ceiling ($THREADS threads)"
run gemm "$OUT/ortinspect" -gemm '577,768,3072;2308,768,3072' -runs 50 -threads $THREADS -nospin -json "$OUT/gemm.json"
log "CPU multiply-add peak"
run peak "$OUT/cpupeak" -threads $THREADS -json "$OUT/peak.json" ||
  log "no AVX-512 peak loop for this CPU: the report skips the silicon peak"

log "OpenBLAS kernels for the PyTorch reference"
run torch-cores $PY tools/reference/bench_torch.py --probe-cores --probe-passes $PASSES --threads $THREADS --json "$OUT/torch-cores.json" >/dev/null
CORE=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["chosen"])' "$OUT/torch-cores.json")
if [[ -n ${BENCH_OPENBLAS_CORETYPE:-} ]]; then
  CORE=$BENCH_OPENBLAS_CORETYPE
  echo "openblas_coretype_forced=$CORE" >>"$OUT/meta.txt"
fi
if [[ -n $CORE ]]; then
  log "the reference runs with OPENBLAS_CORETYPE=$CORE; OpenBLAS's default once, in round 1"
else
  log "the reference runs with OpenBLAS's default core"
fi

reference() { # reference KEY JSON [CORETYPE]
  local key=$1 json=$2 core=${3:-}
  run "$key" env ${core:+OPENBLAS_CORETYPE=$core} OPENBLAS_NUM_THREADS=$THREADS \
    $PY tools/reference/bench_torch.py --size base --img 384 --threads $THREADS --batch $BATCH --min-images $MIN \
    --text-reps $TREPS --json "$json" >/dev/null
}
for r in $(seq "$ROUNDS"); do
  d=$OUT/rounds/r$r
  mkdir -p "$d"
  echo "start=$(date -u +%H:%M:%S)" >"$d/load.txt"
  echo "load_start=$(load)" >>"$d/load.txt"
  for p in fp32 int8; do
    log "round $r/$ROUNDS: imglish $p"
    run "encoder-$p" "$OUT/encbench" -model "$OUT/models/base-$p" -threads $THREADS -batch $BATCH -min-images $MIN \
      -text-reps $REPS -json "$d/imglish-$p.json" >/dev/null
  done
  log "round $r/$ROUNDS: PyTorch reference${CORE:+ (OPENBLAS_CORETYPE=$CORE)}"
  reference torch "$d/torch.json" "$CORE"
  if [[ -n $CORE && $r == 1 ]]; then
    log "round $r/$ROUNDS: PyTorch with OpenBLAS's default core (second row, this round only)"
    reference torch-default "$d/torch-default.json"
  fi
  echo "load_end=$(load)" >>"$d/load.txt"
  echo "end=$(date -u +%H:%M:%S)" >>"$d/load.txt"
done

rm -rf "$OUT/profile"
mkdir -p "$OUT/profile"
for p in fp32 int8; do
  log "where the time of a $p image goes (ORT's profiler), without and with spinning"
  run "profile-$p" "$OUT/ortinspect" -model "$OUT/models/base-$p/vision.onnx" -runs 10 -batch 1 -threads $THREADS -nospin \
    -profile "$OUT/profile/$p" -profile-json "$OUT/profile-$p.json" >/dev/null
  run "profile-$p-spin" "$OUT/ortinspect" -model "$OUT/models/base-$p/vision.onnx" -runs 10 -batch 1 -threads $THREADS \
    -profile "$OUT/profile/$p-spin" -profile-json "$OUT/profile-$p-spin.json" >/dev/null
done

run int8-drift "$OUT/encbench" -model "$OUT/models/base-fp32" -compare "$OUT/models/base-int8" >"$OUT/int8-drift.txt"
if [[ -f testdata/models/demo/demo.pth ]]; then
  log "int8 ranking agreement on the demo model"
  run int8rank $GO run ./bench/int8rank -json "$OUT/int8rank.json" >/dev/null
fi

log "ANN benchmark ($ROUNDS interleaved rounds)"
if [[ -n $QUICK ]]; then
  run ann $GO run ./search/annbench -out "$OUT/ann" -rounds "$ROUNDS" -n 20000 -q 200 -coder-n 10000
else
  run ann $GO run ./search/annbench -out "$OUT/ann" -rounds "$ROUNDS" -coder-n 50000
fi

log "quantised store vs float store"
QN=100000; [[ -n $QUICK ]] && QN=20000
run quant env IMGLISH_QUANT_N=$QN IMGLISH_QUANT_ROUNDS=$ROUNDS IMGLISH_BENCH_OUT="$PWD/$OUT/quant.md" \
  $GO test -tags bench -count=1 -run TestQuantBench -timeout 60m ./store/ >"$OUT/quant.log" 2>&1 ||
  { log "quantised store benchmark failed (see $OUT/quant.log)"; rm -f "$OUT/quant.md"; }

log "indexing throughput"
IMAGES=200; [[ -n $QUICK ]] && IMAGES=40
run indexer env IMGLISH_BENCH_IMAGES=$IMAGES IMGLISH_BENCH_MODEL="$PWD/$OUT/models/base-int8" \
  $GO test -run '^$' -bench 'BenchmarkIndexVsEncoder' -benchtime 1x -timeout 60m ./indexer/ | tee "$OUT/indexer.txt"

if [[ -f server/bench_test.go ]]; then
  log "HTTP latency"
  N=100000; SECS=10; [[ -n $QUICK ]] && { N=10000; SECS=3; }
  # The base-width text tower (the encoder comparison's random base checkpoint) beside the demo model.
  run http env IMGLISH_BENCH_N=$N IMGLISH_BENCH_SECONDS=$SECS IMGLISH_BENCH_BASE_CHECKPOINT="$(realpath "$CK")" IMGLISH_BENCH_OUT="$PWD/$OUT/http.md" \
    $GO test -tags bench -run TestServeLatency -timeout 60m ./server/ >"$OUT/http.log" 2>&1 ||
    { log "server benchmark failed (see $OUT/http.log)"; rm -f "$OUT/http.md"; }
fi

log "Weaviate cluster: embedded vs 1 node vs 3 nodes"
CN=100000; CQ=500; CS=300; TN=20000
[[ -n $QUICK ]] && { CN=10000; CQ=100; CS=60; TN=4000; }
run cluster env BENCH_CLUSTER_N=$CN BENCH_CLUSTER_Q=$CQ BENCH_CLUSTER_SCENES=$CS IMGLISH_BENCH_OUT="$PWD/$OUT/cluster.md" \
  $GO test -tags bench -count=1 -run TestClusterBench -timeout 90m ./cmd/imglish/ >"$OUT/cluster.log" 2>&1 ||
  { log "cluster benchmark failed (see $OUT/cluster.log)"; rm -f "$OUT/cluster.md"; }
log "Weaviate batches: REST vs gRPC"
run transport env BENCH_TRANSPORT_N=$TN IMGLISH_BENCH_OUT="$PWD/$OUT/transport.md" \
  $GO test -tags bench -count=1 -run TestBatchTransportBench -timeout 30m ./cmd/imglish/ >"$OUT/transport.log" 2>&1 ||
  { log "transport benchmark failed (see $OUT/transport.log)"; rm -f "$OUT/transport.md"; }

echo "load_end=$(load)" >>"$OUT/meta.txt"
PUBLISH=bench/REPORT.md
[[ -n $QUICK && -z ${BENCH_PUBLISH:-} ]] && PUBLISH=
$GO run ./bench/report -dir "$OUT" ${PUBLISH:+-publish "$PUBLISH"} >/dev/null
log "wrote $OUT/REPORT.md${PUBLISH:+ and $PUBLISH}"
