#!/usr/bin/python3
"""Pre-train the demo model's vision tower on the synthetic world's attributes.

BEiT-3's retrieval models are ITC fine-tunes of a pre-trained backbone; the
demo model has none, and trained from scratch with ITC alone its vision tower
learnt colours, layout and backgrounds but never shapes (see
testdata/models/demo/README.md). This stage gives the vision tower that
start: a fresh or given tower plus three linear heads (object colour, object
shape, background) trained with cross-entropy on single-object scenes, half
of them as crops around the object. The heads are then dropped; the tower
goes on to ITC fine-tuning with train.py --init.

Usage (repo root, Debian's python3):
  /usr/bin/python3 tools/train/pretrain_vision.py --scenes DIR --init CKPT --out OUT.pth --steps 2000
OUT.pth is CKPT's state_dict with the vision side replaced (fp16, {'model': ...}).
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
import train as T  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", required=True, help="training scenes (imglish demo scenes --split train)")
    ap.add_argument("--test", required=True, help="held-out single-object scenes (--split test --max-objects 1)")
    ap.add_argument("--init", required=True, help="checkpoint whose text side (and, with --keep-vision, vision) is kept")
    ap.add_argument("--keep-vision", action="store_true", help="start from the checkpoint's vision tower")
    ap.add_argument("--out", required=True)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--zoom", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=250)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    scenes, blobs = T.load_set(a.scenes)
    singles = [k for k, s in enumerate(scenes) if len(s["objects"]) == 1]
    test, tblobs = T.load_set(a.test)
    cfg = beit3.BEiT3Config(dim=128, layers=4, heads=2, ffn_dim=512, img_size=80, patch_size=16,
                            vocab_size=210, text_positions=1024)
    model = beit3.BEiT3ForRetrieval(cfg)
    init = {k: v.float() for k, v in torch.load(a.init)["model"].items()}
    if a.keep_vision:
        model.load_state_dict(init)
    heads = torch.nn.ModuleDict({"colour": torch.nn.Linear(128, 8), "shape": torch.nn.Linear(128, 6),
                                 "background": torch.nn.Linear(128, 9)})
    vision = [p for n, p in model.named_parameters() if not T.is_text_param(n) and n != "logit_scale"]
    opt = torch.optim.AdamW(vision + list(heads.parameters()), lr=a.lr, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.05)

    def labels(s):
        o = s["objects"][0]
        return o["colour"], o["shape"], s["background"]

    def sample(k, r):
        img = Image.open(io.BytesIO(blobs[k])).convert("RGB")
        if r.random() < a.zoom:
            img = T.zoom_crop(img, scenes[k]["objects"][0], r)
        return T.to_tensor(T.augment(img, r), 80)

    xt = torch.stack([T.to_tensor(Image.open(io.BytesIO(b)), 80) for b in tblobs])
    yt = torch.tensor([labels(s) for s in test])

    def evaluate():
        model.eval()
        with torch.no_grad():
            f = model.image_features(xt)
            acc = {n: (heads[n](f).argmax(1) == yt[:, i]).float().mean().item() for i, n in
                   enumerate(["colour", "shape", "background"])}
        model.train()
        return acc

    t0 = time.time()
    for step in range(a.steps):
        lr = a.lr * min(1.0, (step + 1) / 20) * (0.5 * (1 + np.cos(np.pi * max(0, step - a.steps // 2) / (a.steps // 2))))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = rng.choice(singles, a.batch)
        x = torch.stack([sample(k, rng) for k in idx])
        y = torch.tensor([labels(scenes[k]) for k in idx])
        f = model.image_features(x)
        loss = sum(F.cross_entropy(heads[n](f), y[:, i]) for i, n in enumerate(["colour", "shape", "background"]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vision, 1.0)
        opt.step()
        if (step + 1) % a.eval_every == 0 or step + 1 == a.steps:
            acc = evaluate()
            print(f"step {step + 1} loss {loss.item():.3f} held-out whole-scene accuracy " +
                  " ".join(f"{n} {100 * v:.1f}%" for n, v in acc.items()) + f" ({time.time() - t0:.0f} s)", flush=True)
            sd = {k: (v if T.is_text_param(k) or k == "logit_scale" else model.state_dict()[k]).detach().to(torch.float16)
                  for k, v in init.items()}
            torch.save({"model": sd}, a.out + ".tmp")
            os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
