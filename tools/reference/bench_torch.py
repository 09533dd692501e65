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

Debian's torch multiplies float32 matrices with OpenBLAS, which picks its
kernels by CPU model at load time; a release older than the CPU may not
know it and fall back to SSE3 ("Prescott") kernels, several times slower
than the AVX2/AVX-512 ones the CPU can run. The JSON records the core
OpenBLAS ran (openblas_get_corename) and OPENBLAS_CORETYPE, so every row
says which kernels it used. --probe-cores times a 2048x2048 float32 matmul
in torch under OpenBLAS's own choice and under each core the CPU's flags
allow (each in a fresh process without the caller's OPENBLAS_* variables,
since OPENBLAS_CORETYPE is read at load time), in interleaved passes; only
when OpenBLAS's own choice is weaker than the CPU's widest vectors does it
name the fastest stronger core ("chosen", if 10% faster per CPU-second), which
bench/run.sh then sets for the reference process only:

    /usr/bin/python3 tools/reference/bench_torch.py --probe-cores --threads 2 --json bench/out/torch-cores.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import beit3  # noqa: E402

# ISA level of OpenBLAS's x86-64 core names (dynamic.c): 2 = AVX2+FMA kernels,
# 3 = AVX-512 kernels; anything unlisted (Prescott, Nehalem, Sandybridge, …)
# is weaker.
CORE_LEVEL = {"haswell": 2, "zen": 2, "excavator": 2, "skylakex": 3, "cooperlake": 3, "sapphirerapids": 3}
# Cores worth trying per CPU level, best first; Cooperlake needs AVX512-BF16
# (only its bf16 GEMM differs); SapphireRapids is left out (its extra kernels
# need AMX-era instructions not every AVX-512 CPU has).
AVX512 = ("avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl")


def openblas_core():
    """The core OpenBLAS chose in this process (openblas_get_corename), or None
    when torch did not load OpenBLAS."""
    import ctypes
    paths = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if path.startswith("/") and "blas" in os.path.basename(path) and path not in paths:
                    paths.append(path)
    except OSError:
        return None
    for path in paths:
        try:
            fn = ctypes.CDLL(path).openblas_get_corename
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_char_p
        return fn().decode()
    return None


def cpu_level(flags):
    if all(f in flags for f in AVX512):
        return 3
    if "avx2" in flags and "fma" in flags:
        return 2
    return 1


def matmul_gflops(n, reps, threads):
    """Best rates of an n x n float32 matmul in torch over reps runs: GFLOP
    per wall second and per CPU-second of the process (all threads; the
    steadier of the two on a shared machine)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up: OpenBLAS allocates its buffers
    wall = cpu = float("inf")
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        torch.mm(a, b)
        wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
    flop = 2 * n ** 3 / 1e9
    return flop / wall, flop / max(cpu, 1e-9)


def probe_cores(args):
    """Times the matmul under OpenBLAS's own choice of core and under each
    core this CPU can run, interleaved over --probe-passes passes (best of
    each), and picks the reference's core: only when OpenBLAS's choice is
    weaker than the CPU's widest vectors, the fastest stronger core that
    OpenBLAS really switched to (an unknown name is ignored), if it beats
    the default by 10%."""
    flags = set(cpu_info().get("flags", []))
    level = cpu_level(flags)
    cands = []
    if level >= 3:
        cands += ["SkylakeX"] + (["Cooperlake"] if "avx512_bf16" in flags else [])
    if level >= 2:
        cands += ["Haswell", "Zen"]
    rows = [{"coretype": c, "core": None, "gflops": [], "gflop_per_cpu_s": []} for c in [""] + cands]
    for p in range(args.probe_passes):
        for row in rows:
            # The default row must be OpenBLAS's own choice: no OPENBLAS_* from the caller.
            env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBLAS_")}
            env["OPENBLAS_NUM_THREADS"] = str(args.threads)
            if row["coretype"]:
                env["OPENBLAS_CORETYPE"] = row["coretype"]
            cmd = [sys.executable, os.path.abspath(__file__), "--matmul", str(args.probe_n), "--threads", str(args.threads)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if out.returncode != 0:
                row["error"] = (out.stderr.strip().splitlines() or ["exit %d" % out.returncode])[-1]
                continue
            r = json.loads(out.stdout)
            row["core"] = r["core"]
            row["gflops"].append(round(r["gflops"], 1))
            row["gflop_per_cpu_s"].append(round(r["gflop_per_cpu_s"], 1))
            print(f"probe pass {p + 1}: OPENBLAS_CORETYPE={row['coretype'] or '(unset)'} core {r['core']}: "
                  f"{r['gflops']:.1f} GFLOP/s, {r['gflop_per_cpu_s']:.1f} per CPU-s", file=sys.stderr)
    # Chosen by the rate per CPU-second: neighbours' load moves it far less
    # than the wall rate (bench/HISTORY.md, "OpenBLAS kernels for the
    # PyTorch reference").
    for row in rows:
        row["best_gflops"] = max(row["gflops"], default=0.0)
        row["best_gflop_per_cpu_s"] = max(row["gflop_per_cpu_s"], default=0.0)
    default, base = rows[0]["core"], rows[0]["best_gflop_per_cpu_s"]
    chosen = ""
    if default is None:
        why = "torch did not load OpenBLAS"
    elif CORE_LEVEL.get(default.lower(), 1) >= level:
        why = f"OpenBLAS's own choice ({default}) already uses the widest vectors this CPU has"
    else:
        stronger = [r for r in rows[1:] if r["core"] and r["core"].lower() == r["coretype"].lower()
                    and CORE_LEVEL.get(r["coretype"].lower(), 1) > CORE_LEVEL.get(default.lower(), 1)
                    and r["best_gflop_per_cpu_s"] > 0]
        best = max(stronger, key=lambda r: r["best_gflop_per_cpu_s"], default=None)
        if best is not None and best["best_gflop_per_cpu_s"] >= 1.1 * base:
            chosen = best["coretype"]
            why = f"{best['best_gflop_per_cpu_s'] / base:.2f}x the default core's matmul rate per CPU-second"
        else:
            why = f"no stronger core beat OpenBLAS's own choice ({default}) by 10% on the matmul"
    return {"n": args.probe_n, "threads": args.threads, "passes": args.probe_passes, "cpu": cpu_info(),
            "cpu_level": {1: "below AVX2", 2: "AVX2", 3: "AVX-512"}[level], "default_core": default,
            "cores": rows, "chosen": chosen, "why": why, "torch": torch.__version__}


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
    ap.add_argument("--probe-cores", action="store_true",
                    help="instead: time a matmul under OpenBLAS's own core and the others, pick the reference's")
    ap.add_argument("--probe-n", type=int, default=2048, help="matmul size of --probe-cores")
    ap.add_argument("--probe-passes", type=int, default=3, help="interleaved passes of --probe-cores")
    ap.add_argument("--matmul", type=int, help=argparse.SUPPRESS)  # one probe measurement, in a child
    args = ap.parse_args()

    if args.matmul:
        wall, cpu = matmul_gflops(args.matmul, 8, args.threads)
        print(json.dumps({"core": openblas_core(), "gflops": wall, "gflop_per_cpu_s": cpu}))
        return
    if args.probe_cores:
        write(probe_cores(args), args.json)
        return

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
        "openblas_core": openblas_core(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
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

    write(result, args.json)


def write(result, path):
    out = json.dumps(result, indent=1)
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            f.write(out + "\n")
    print(out)


if __name__ == "__main__":
    main()
