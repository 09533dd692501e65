#!/usr/bin/python3
"""Write a full-size random BEiT3ForRetrieval checkpoint in the official layout.

For timing `imglish convert` on base (222,458,881 params) and large
(675,188,737 params) models; never commit the output. Tensors are created
directly in the target dtype and filled chunk by chunk, so peak memory is about
one checkpoint size plus a few MB (no float32 model is built).

    nice /usr/bin/python3 tools/reference/make_checkpoint.py --size base --img 384 --dtype fp16 --out /tmp/base.pth
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import beit3  # noqa: E402

PARAMS_384 = {"base": 222_458_881, "large": 675_188_737}
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
CHUNK = 1 << 22  # elements drawn per step


def fill_(t: torch.Tensor, gen: torch.Generator, std: float, mean: float = 0.0) -> None:
    """t ← mean + std·N(0,1), drawn in float32 chunks and cast in place."""
    flat = t.view(-1)
    for start in range(0, flat.numel(), CHUNK):
        n = min(CHUNK, flat.numel() - start)
        buf = torch.randn(n, generator=gen, dtype=torch.float32)
        if std != 1.0:
            buf.mul_(std)
        if mean != 0.0:
            buf.add_(mean)
        flat[start:start + n].copy_(buf)


def random_state_dict(cfg: beit3.BEiT3Config, dtype: torch.dtype, seed: int) -> "collections.OrderedDict":
    gen = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    for key, shape in beit3.expected_shapes(cfg).items():
        t = torch.empty(shape, dtype=dtype)
        is_ln = "layer_norm" in key or "inner_attn_ln" in key or "ffn_layernorm" in key
        if key == "logit_scale":
            t.fill_(math.log(1 / 0.07))
        elif is_ln:
            fill_(t, gen, 0.1, 1.0 if key.endswith(".weight") else 0.0)
        elif key.endswith(".bias"):
            fill_(t, gen, 0.02)
        elif "text_embed" in key or "embed_positions" in key or key.endswith("_token"):
            fill_(t, gen, 0.02)  # token and position tables, cls/mask tokens
        else:  # Linear and patch-conv weights: N(0, 1/fan_in)
            fill_(t, gen, 1 / math.sqrt(math.prod(shape[1:])))
        sd[key] = t
    return sd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=("base", "large"), required=True)
    ap.add_argument("--img", type=int, default=384, help="image size (384, or 224 like the ITC checkpoints)")
    ap.add_argument("--dtype", choices=tuple(DTYPES), default="fp16")
    ap.add_argument("--container", choices=("model", "module", "bare"), default="model")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    cfg = beit3.BEiT3Config.base(args.img) if args.size == "base" else beit3.BEiT3Config.large(args.img)
    t0 = time.time()
    sd = random_state_dict(cfg, DTYPES[args.dtype], args.seed)
    params = sum(t.numel() for t in sd.values())
    if args.img == 384 and params != PARAMS_384[args.size]:
        raise SystemExit(f"{args.size} has {params} params, want {PARAMS_384[args.size]}")
    obj = sd if args.container == "bare" else {args.container: sd}
    tmp = args.out + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {args.size} {args.img}px {args.dtype}, {len(sd)} tensors, {params:,} params, "
          f"{os.path.getsize(args.out):,} bytes, {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
