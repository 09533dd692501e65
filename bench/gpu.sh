#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU (run from the repository root,
# after `make setup setup-gpu` and with a base-384 fp16 model converted, e.g.
#   bin/imglish convert --checkpoint base384.pth --out bench/out/models/base-fp16 --precision fp16):
#   1. correctness: the CUDA parity test (fp16 base-shaped vs the float64 goldens, cosine ≥ 0.999);
#   2. throughput: images/s for base-384 fp16 at batch 1, 16, 64 and 256, and MFU.
# Writes bench/out/gpu-*.json and prints a summary. MODEL overrides the model folder; PEAK_TFLOPS the
# dense fp16 peak used for MFU (H100 SXM: 989; H200: 989).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT_DIR:-bench/out}
MODEL=${MODEL:-bench/out/models/base-fp16}
PEAK=${PEAK_TFLOPS:-989}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
go run ./cmd/imglish doctor | sed -n '/"cuda"/,/}/p'
go test -count=1 -run 'CUDA' -v ./encoder/ 2>&1 | tee "$OUT/gpu-test.txt"
go build -o "$OUT/encbench" ./bench/encbench
for b in 1 16 64 256; do
  "$OUT/encbench" -model "$MODEL" -provider cuda -image-batch "$b" -batch "$b" -min-images $((b * 4 > 64 ? b * 4 : 64)) \
    -text-reps 50 -json "$OUT/gpu-b$b.json" >/dev/null
done
for b in 1 16 64 256; do
  python3 - "$OUT/gpu-b$b.json" "$PEAK" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); peak = float(sys.argv[2])
for x in r["image"]:
    gflop = 103.8  # base-384 per image as the graph computes it (bench/report)
    print(f'batch {x["batch"]}: {x["images_per_s"]:.1f} images/s, MFU {100 * x["images_per_s"] * gflop / (peak * 1000):.1f}%')
PY
done
