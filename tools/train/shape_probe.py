#!/usr/bin/python3
"""Supervised probe: how fast can a fresh demo vision tower learn shapes?

Trains a fresh vision tower of the demo architecture (tools/reference/beit3.py,
BEiT3ForRetrieval's image path: patch conv, CLS, 4 layers, vision_head) plus a
linear head with cross-entropy on the object shape of single-object scenes,
optionally with pretrain_vision.py's per-patch losses (--dense, --mask), and
prints held-out shape accuracy every 100 steps. It is the measurement behind
the demo world's object sizes (testdata/models/demo/README.md): with objects
0.17-0.36 of the side across a 5×5 patch grid, shape stayed near chance for
over a thousand steps; at 0.30-0.52 it is learnt.

Usage (repo root; Debian's python3; TRAIN and TEST from `imglish demo scenes
--size 128 --all-captions`, TEST with --split test --max-objects 1):
  /usr/bin/python3 tools/train/shape_probe.py --scenes TRAIN --test TEST --dense 1 --mask 1 --secs 600
--zoom F crops every scene to F±1 object radii around its object (the object
then fills 2/F of the side), to try other object sizes without a new world.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import beit3  # noqa: E402
import pretrain_vision as P  # noqa: E402
import train as T  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", required=True, help="training scenes; their single-object ones are used")
    ap.add_argument("--test", required=True, help="held-out single-object scenes")
    ap.add_argument("--img", type=int, default=80)
    ap.add_argument("--patch", type=int, default=16)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=100000)
    ap.add_argument("--secs", type=float, default=600, help="stop after this many seconds")
    ap.add_argument("--dense", type=float, default=0.0, help="weight of the per-patch shape loss")
    ap.add_argument("--mask", type=float, default=0.0, help="weight of the per-patch foreground-mask loss")
    ap.add_argument("--zoom", type=float, default=0.0, help="crop to zoom±1 object radii (0: whole scenes)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    crop_rng = np.random.default_rng(3)

    def load(blob, scene):
        im = Image.open(io.BytesIO(blob)).convert("RGB")
        if a.zoom:
            o, w = scene["objects"][0], im.size[0]
            side = min(w, o["r"] * w * crop_rng.uniform(a.zoom - 1, a.zoom + 1))
            e = o["r"] * 1.15 * w  # the generator's outer extent: the crop keeps the whole object
            lx, hx = max(0, o["x"] * w + e - side), min(w - side, o["x"] * w - e)
            ly, hy = max(0, o["y"] * w + e - side), min(w - side, o["y"] * w - e)
            x0, y0 = crop_rng.uniform(lx, max(lx, hx)), crop_rng.uniform(ly, max(ly, hy))
            im = im.crop((int(x0), int(y0), int(x0 + side), int(y0 + side)))
        return T.to_tensor(im, a.img)

    def dataset(d):
        scenes, blobs = T.load_set(d)
        keep = [k for k, s in enumerate(scenes) if len(s["objects"]) == 1]
        x = torch.stack([load(blobs[k], scenes[k]) for k in keep])
        return x, torch.tensor([scenes[k]["objects"][0]["shape"] for k in keep])

    x, y = dataset(a.scenes)
    xt, yt = dataset(a.test)
    fg = P.foreground(x, a.patch)
    cfg = beit3.BEiT3Config(dim=128, layers=4, heads=a.heads, ffn_dim=512, img_size=a.img, patch_size=a.patch,
                            vocab_size=210, text_positions=1024)
    model = beit3.BEiT3ForRetrieval(cfg)
    heads = torch.nn.ModuleDict({"shape": torch.nn.Linear(128, 6), "patch_shape": torch.nn.Linear(128, 7),
                                 "patch_mask": torch.nn.Linear(128, a.patch ** 2)})
    vision = [p for n, p in model.named_parameters() if T.is_vision_param(n)]
    opt = torch.optim.AdamW(vision + list(heads.parameters()), lr=a.lr, betas=(0.9, 0.98), weight_decay=0.05)
    order = np.random.default_rng(0)
    print(f"{vars(a)}: {len(x)} training, {len(xt)} held-out single-object scenes", flush=True)
    t0, step = time.time(), 0
    while step < a.steps and time.time() - t0 < a.secs:
        for g in opt.param_groups:
            g["lr"] = a.lr * min(1.0, (step + 1) / 40)
        idx = torch.from_numpy(order.choice(len(x), a.batch, replace=False))
        h = model.beit3.encoder(model.beit3.vision_embed(x[idx]), "A", None)
        loss = F.cross_entropy(heads["shape"](model.vision_head(h[:, 0, :])), y[idx])
        loss = P.patch_losses(loss, heads, h, fg[idx], y[idx], a.dense, a.mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vision, 1.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            model.eval()
            with torch.no_grad():
                acc = (heads["shape"](model.image_features(xt)).argmax(1) == yt).float().mean().item()
            model.train()
            print(f"step {step} loss {loss.item():.3f} held-out shape accuracy {100 * acc:.1f}% "
                  f"({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
