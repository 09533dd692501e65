#!/usr/bin/python3
"""PyTorch side of `make bench`: the official-structure BEiT-3 retrieval model
(tools/reference/beit3.py) in eager PyTorch, fp32, eval, no_grad.

Measures image throughput (images/s) at each batch size and text latency
(a 16-token query: [0] + 14 ids + [2]; p50/p90 ms per call) at each batch
size, after warm-up, and writes one JSON object.

    nice /usr/bin/python3 tools/reference/bench_torch.py --size base --img 384 --threads 2 \\
        --batch 1,8 --json bench/out/torch.json

Random weights unless --checkpoint is given. Images are timed over at least
--min-images images per batch size (whole batches), so batch 8 costs one
batch; expect ~30-60 s for base at 2 threads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import beit3  # noqa: E402


def cpu_info():
    info = {"machine": platform.machine(), "logical_cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and "model" not in info:
                    info["model"] = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and "flags" not in info:
                    flags = set(line.split(":", 1)[1].split())
                    info["flags"] = sorted(f for f in flags if f.startswith(("avx", "fma", "f16c", "amx"))
                                           or f in ("sse4_2",))
    except OSError:
        pass
    return info


def percentile(xs, q):
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=("base", "large"), default="base")
    ap.add_argument("--img", type=int, default=384)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", default="1,8", help="comma-separated batch sizes")
    ap.add_argument("--min-images", type=int, default=4, help="images timed per batch size (whole batches)")
    ap.add_argument("--text-reps", type=int, default=20, help="timed text calls per batch size")
    ap.add_argument("--text-tokens", type=int, default=16)
    ap.add_argument("--checkpoint", help="official-layout checkpoint instead of random weights")
    ap.add_argument("--skip-images", action="store_true")
    ap.add_argument("--json", help="write the result here (else stdout only)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(0)
    batches = [int(b) for b in args.batch.split(",") if b]

    t0 = time.time()
    if args.checkpoint:
        heads = 12 if args.size == "base" else 16
        model, cfg = beit3.load_official(args.checkpoint, heads=heads, img_size=args.img)
    else:
        cfg = beit3.BEiT3Config.base(args.img) if args.size == "base" else beit3.BEiT3Config.large(args.img)
        model = beit3.BEiT3ForRetrieval(cfg, init=False)
        with torch.no_grad():  # normal_ is much faster than the official trunc_normal_ init
            for name, p in model.named_parameters():
                if p.dim() >= 2:
                    p.normal_(0, 0.02)
                elif "norm" in name or "_ln" in name:
                    p.normal_(1.0 if name.endswith("weight") else 0.0, 0.05)
                else:
                    p.normal_(0, 0.02)
        model.eval()
    build_s = time.time() - t0

    result = {
        "impl": "pytorch-eager-reference",
        "model": f"beit3-{args.size}-{args.img}",
        "weights": args.checkpoint or "random",
        "dtype": "float32",
        "torch": torch.__version__,
        "threads": args.threads,
        "params": sum(p.numel() for p in model.parameters()),
        "cpu": cpu_info(),
        "build_s": round(build_s, 2),
        "image": [],
        "text": [],
    }

    with torch.inference_mode():
        if not args.skip_images:
            x1 = torch.rand(1, 3, args.img, args.img) * 2 - 1
            model.encode_image(x1)  # warm-up
            for b in batches:
                x = torch.rand(b, 3, args.img, args.img) * 2 - 1
                runs = max(1, -(-args.min_images // b))
                times = []
                cpu0 = time.process_time()  # all threads: robust on a shared machine
                for _ in range(runs):
                    t = time.perf_counter()
                    model.encode_image(x)
                    times.append(time.perf_counter() - t)
                total = sum(times)
                cpu = time.process_time() - cpu0
                result["image"].append({
                    "batch": b, "images": b * runs, "seconds": round(total, 3),
                    "images_per_s": round(b * runs / total, 4),
                    "cpu_s_per_image": round(cpu / (b * runs), 4),
                    "ms_per_batch_p50": round(1000 * statistics.median(times), 2),
                })
                print(f"image batch {b}: {b * runs / total:.3f} images/s ({runs} x {b} in {total:.1f} s)",
                      file=sys.stderr)

        n = args.text_tokens
        ids = torch.randint(3, 64000, (1, n))
        ids[0, 0], ids[0, -1] = 0, 2
        for b in batches:
            tb = ids.expand(b, n).contiguous()
            for _ in range(3):  # warm-up
                model.encode_text(tb)
            times = []
            cpu0 = time.process_time()
            for _ in range(args.text_reps):
                t = time.perf_counter()
                model.encode_text(tb)
                times.append(1000 * (time.perf_counter() - t))
            p50 = statistics.median(times)
            cpu = time.process_time() - cpu0
            result["text"].append({
                "cpu_ms_per_text": round(1000 * cpu / (b * args.text_reps), 2),
                "batch": b, "tokens": n, "reps": args.text_reps,
                "p50_ms": round(p50, 2), "p90_ms": round(percentile(times, 0.9), 2),
                "texts_per_s": round(1000 * b / p50, 2),
            })
            print(f"text batch {b} ({n} tokens): p50 {p50:.1f} ms, p90 {percentile(times, 0.9):.1f} ms",
                  file=sys.stderr)

    out = json.dumps(result, indent=1)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            f.write(out + "\n")
    print(out)


if __name__ == "__main__":
    main()
