#!/usr/bin/python3
"""Supervised probe: how fast can the demo model's vision tower learn a label?

Trains a fresh vision tower of the demo architecture (tools/reference/beit3.py,
BEiT3ForRetrieval's image path: patch conv, CLS, 4 layers, vision_head) plus a
linear head with cross-entropy on one label of single-object scenes, and
prints held-out accuracy every 25 steps. It is a diagnostic for why the demo
model (testdata/models/demo/README.md, "Limits") learnt colours but not
shapes: with the label given directly, background colour is learnt in 25
steps, shape barely moves in hundreds, unless the objects are shown as
zoomed silhouettes.

Usage (repo root; Debian's python3; DIR from `imglish demo scenes --split
train --size 128 --all-captions`):
  /usr/bin/python3 tools/train/shape_probe.py --scenes DIR --target shape --zoom --silhouette
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import beit3  # noqa: E402
import train as T  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", required=True)
    ap.add_argument("--target", choices=["shape", "colour", "background"], default="shape")
    ap.add_argument("--zoom", action="store_true", help="crop around the object (2.5-4 radii a side)")
    ap.add_argument("--silhouette", action="store_true", help="object white on black (pixels far from the background)")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--img", type=int, default=80)
    ap.add_argument("--patch", type=int, default=16)
    ap.add_argument("--n", type=int, default=4000, help="single-object scenes used (the last quarter held out)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)
    scenes, blobs = T.load_set(a.scenes)
    singles = [k for k, s in enumerate(scenes) if len(s["objects"]) == 1][: a.n]
    rng = np.random.default_rng(5)

    def load(k):
        im = Image.open(io.BytesIO(blobs[k])).convert("RGB")
        o = scenes[k]["objects"][0]
        bg = np.asarray(im.getpixel((0, 0)), dtype=np.float32)  # the generator keeps corners clear
        if a.zoom:
            w = im.size[0]
            side = o["r"] * w * rng.uniform(2.5, 4.0)
            cx, cy = o["x"] * w + rng.uniform(-.15, .15) * side, o["y"] * w + rng.uniform(-.15, .15) * side
            im = im.crop((int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2)))
        if a.silhouette:
            px = np.asarray(im.resize((a.img, a.img), Image.BICUBIC)).astype(np.float32)
            fg = np.abs(px - bg).sum(2) > 60
            im = Image.fromarray(np.where(fg[..., None], 255, 0).repeat(3, 2).astype(np.uint8))
        return T.to_tensor(im, a.img)

    def label(k):
        s = scenes[k]
        return s["background"] if a.target == "background" else s["objects"][0][a.target]

    x = torch.stack([load(k) for k in singles])
    y = torch.tensor([label(k) for k in singles])
    split = len(singles) * 3 // 4
    xt, yt, x, y = x[split:], y[split:], x[:split], y[:split]
    cfg = beit3.BEiT3Config(dim=128, layers=4, heads=2, ffn_dim=512, img_size=a.img, patch_size=a.patch,
                            vocab_size=210, text_positions=1024)
    model = beit3.BEiT3ForRetrieval(cfg)
    head = torch.nn.Linear(cfg.dim, 9)
    params = [p for n, p in model.named_parameters() if not T.is_text_param(n) and n != "logit_scale"]
    opt = torch.optim.AdamW(params + list(head.parameters()), lr=a.lr, weight_decay=0.05)
    order = np.random.default_rng(0)
    t0 = time.time()
    for step in range(a.steps):
        for g in opt.param_groups:
            g["lr"] = a.lr * min(1.0, (step + 1) / 20)
        idx = order.choice(len(x), 128, replace=False)
        loss = torch.nn.functional.cross_entropy(head(model.image_features(x[idx])), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 24:
            with torch.no_grad():
                acc = (head(model.image_features(xt)).argmax(1) == yt).float().mean().item()
            print(f"step {step + 1} loss {loss.item():.3f} held-out {a.target} accuracy {100 * acc:.1f}% "
                  f"({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
