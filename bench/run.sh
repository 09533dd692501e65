#!/usr/bin/env bash
# make bench: one command, one run, one machine. Writes bench/out/REPORT.md and
# bench/out/report.json (bench/report), from, in order and never in parallel:
#   the GEMM ceiling now (bench/ortinspect -gemm), the CPU's multiply-add peak
#   (bench/cpupeak), imglish fp32 and int8
#   (bench/encbench on a random base-384 checkpoint converted by imglish), the
#   PyTorch reference (tools/reference/bench_torch.py), the ANN benchmark
#   (search/annbench: imglish interleaved with hnswlib compiled here with
#   g++ -O3 -march=native from Debian's libhnswlib-dev), indexing throughput
#   (indexer BenchmarkIndexVsEncoder) and HTTP latency (server TestServeLatency, when that benchmark exists).
# BENCH_QUICK=1 runs smaller sizes (pipeline check, a few minutes); the full run
# takes ~35-45 min, most of it the ANN benchmark. BENCH_CHECKPOINT reuses a
# base-384 checkpoint (default: made once in bench/out/base384.pth).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
QUICK=${BENCH_QUICK:-}
GO=${GO:-go}
PY=/usr/bin/python3
BIN=bin/imglish
log() { printf '== %s: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "quick=${QUICK:-0}"
  echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "go=$($GO env GOVERSION)"
  echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- encoder bench 2>/dev/null || echo +dirty)"
} > "$OUT/meta.txt"

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
log "GEMM ceiling (2 threads)"
"$OUT/ortinspect" -gemm '577,768,3072;2308,768,3072' -runs 3 -threads 2 -nospin -json "$OUT/gemm.json"
log "CPU multiply-add peak"
rm -f "$OUT/peak.json"
$GO run ./bench/cpupeak -threads 2 -json "$OUT/peak.json" || log "no AVX-512 peak loop for this CPU: the report skips the silicon peak"

MIN=8; REPS=40; TREPS=20
[[ -n $QUICK ]] && { MIN=8; REPS=15; TREPS=8; }
for p in fp32 int8; do
  log "imglish $p"
  "$OUT/encbench" -model "$OUT/models/base-$p" -threads 2 -batch 1,8 -min-images $MIN -text-reps $REPS -json "$OUT/imglish-$p.json" >/dev/null
done
"$OUT/encbench" -model "$OUT/models/base-fp32" -compare "$OUT/models/base-int8" > "$OUT/int8-drift.txt"
if [[ -f testdata/models/demo/demo.pth ]]; then
  log "int8 ranking agreement on the demo model"
  $GO run ./bench/int8rank -json "$OUT/int8rank.json" >/dev/null
fi
log "PyTorch reference"
$PY tools/reference/bench_torch.py --size base --img 384 --threads 2 --batch 1,8 --min-images $MIN \
  --text-reps $TREPS --json "$OUT/torch.json" >/dev/null

log "ANN benchmark"
if [[ -n $QUICK ]]; then
  $GO run ./search/annbench -out "$OUT/ann" -n 20000 -q 200 -coder-n 10000
else
  $GO run ./search/annbench -out "$OUT/ann" -coder-n 50000
fi

log "indexing throughput"
IMAGES=200; [[ -n $QUICK ]] && IMAGES=40
IMGLISH_BENCH_IMAGES=$IMAGES IMGLISH_BENCH_MODEL="$PWD/$OUT/models/base-int8" \
  $GO test -run '^$' -bench 'BenchmarkIndexVsEncoder' -benchtime 1x -timeout 60m ./indexer/ | tee "$OUT/indexer.txt"

rm -f "$OUT/http.md"
if [[ -f server/bench_test.go ]]; then
  log "HTTP latency"
  N=100000; SECS=10; [[ -n $QUICK ]] && { N=10000; SECS=3; }
  IMGLISH_BENCH_N=$N IMGLISH_BENCH_SECONDS=$SECS IMGLISH_BENCH_OUT="$PWD/$OUT/http.md" \
    $GO test -tags bench -run TestServeLatency -timeout 60m ./server/ >"$OUT/http.log" 2>&1 \
    || { log "server benchmark failed (see $OUT/http.log)"; rm -f "$OUT/http.md"; }
fi

echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/meta.txt"
$GO run ./bench/report -dir "$OUT"
log "wrote $OUT/REPORT.md"
