#!/usr/bin/python3
"""Pre-train the demo model's vision tower on the synthetic world's attributes.

BEiT-3's retrieval models are ITC fine-tunes of a pre-trained backbone; the
demo model has none, and trained from scratch with ITC alone its vision tower
learnt colours, layout and backgrounds but never shapes (see
testdata/models/demo/README.md). This stage gives the vision tower that
start: a fresh or given tower plus three linear heads on the CLS output
(object colour, object shape, background) trained with cross-entropy on
single-object scenes, some of them as crops around the object, and two
auxiliary heads on the patch outputs (token labelling): each patch predicts
the shape of the object it overlaps (or "background"), and which of its
pixels belong to the object (a foreground mask, which is the same whatever
the colours). The patch losses give every patch a direct, colour-invariant
shape signal instead of the CLS token's diluted one; without them the probe
in tools/train/shape_probe.py needs several times more steps. The heads are
then dropped; the tower goes on to ITC fine-tuning with train.py --init.

Usage (repo root, Debian's python3):
  /usr/bin/python3 tools/train/pretrain_vision.py --scenes DIR --test TESTDIR --spm SPM --out OUT.pth
OUT.pth is a full checkpoint (fp16, {'model': ...}) whose vision side is the
trained tower; its text side is the --init checkpoint's, or a fresh one sized
for the --spm tokenizer (train.py --init OUT.pth --reinit-text starts it
afresh either way).
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


def foreground(x: torch.Tensor, patch: int) -> torch.Tensor:
    """Per-patch object masks of preprocessed single-object scenes [B, 3, S, S]:
    pixels more than 60 levels (summed over channels) from the top-left corner,
    which the generator keeps clear of objects. Returns [B, patches, patch*patch]."""
    fg = ((x - x[:, :, :1, :1]).abs().sum(1) > 60 / 127.5).float()
    b, s = fg.shape[0], fg.shape[1]
    g = s // patch
    return fg.reshape(b, g, patch, g, patch).permute(0, 1, 3, 2, 4).reshape(b, g * g, patch * patch)


def patch_losses(loss, heads, h, fg, shape, dense: float, mask: float):
    """loss plus the per-patch losses on the patch outputs h[:, 1:]: each patch
    with at least 5% object pixels (fg from foreground) is labelled with the
    scene's object shape (shape: [B]), the others 6, background, at weight 0.2
    (dense); and each patch's foreground mask (mask). Weights 0 skip a loss."""
    if dense:
        pl = torch.where(fg.mean(2) >= 0.05, shape[:, None], torch.full_like(shape[:, None], 6))
        w = torch.where(pl == 6, 0.2, 1.0)
        ce = F.cross_entropy(heads["patch_shape"](h[:, 1:, :]).reshape(-1, 7), pl.reshape(-1), reduction="none")
        loss = loss + dense * (ce * w.reshape(-1)).sum() / w.sum()
    if mask:
        loss = loss + mask * F.binary_cross_entropy_with_logits(heads["patch_mask"](h[:, 1:, :]), fg)
    return loss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", required=True, help="training scenes (imglish demo scenes --split train)")
    ap.add_argument("--test", required=True, help="held-out single-object scenes (--split test --max-objects 1)")
    ap.add_argument("--init", default="", help="checkpoint whose text side (and, with --keep-vision, vision) is kept")
    ap.add_argument("--spm", default="", help="without --init: the tokenizer that sizes the fresh token table")
    ap.add_argument("--keep-vision", action="store_true", help="start from the checkpoint's vision tower")
    ap.add_argument("--out", required=True)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--zoom", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--dense", type=float, default=1.0, help="weight of the per-patch shape loss")
    ap.add_argument("--mask", type=float, default=1.0, help="weight of the per-patch foreground-mask loss")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    scenes, blobs = T.load_set(a.scenes)
    singles = [k for k, s in enumerate(scenes) if len(s["objects"]) == 1]
    test, tblobs = T.load_set(a.test)
    cfg = beit3.BEiT3Config(dim=128, layers=4, heads=2, ffn_dim=512, img_size=80, patch_size=16,
                            vocab_size=T.Tokenizer(a.spm).pieces + 2 if a.spm and not a.init else 210,
                            text_positions=1024)
    model = beit3.BEiT3ForRetrieval(cfg)
    if a.init:
        init = {k: v.float() for k, v in torch.load(a.init)["model"].items()}
    elif a.spm:
        init = {k: v.clone() for k, v in model.state_dict().items()}
    else:
        ap.error("give --init or --spm")
    if a.keep_vision:
        model.load_state_dict(init)
    heads = torch.nn.ModuleDict({"colour": torch.nn.Linear(128, 8), "shape": torch.nn.Linear(128, 6),
                                 "background": torch.nn.Linear(128, 9), "patch_shape": torch.nn.Linear(128, 7),
                                 "patch_mask": torch.nn.Linear(128, cfg.patch_size ** 2)})
    vision = [p for n, p in model.named_parameters() if T.is_vision_param(n)]
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
        h = model.beit3.encoder(model.beit3.vision_embed(x), "A", None)
        f = model.vision_head(h[:, 0, :])
        loss = sum(F.cross_entropy(heads[n](f), y[:, i]) for i, n in enumerate(["colour", "shape", "background"]))
        loss = patch_losses(loss, heads, h, foreground(x, cfg.patch_size), y[:, 1], a.dense, a.mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vision, 1.0)
        opt.step()
        if (step + 1) % a.eval_every == 0 or step + 1 == a.steps:
            acc = evaluate()
            print(f"step {step + 1} loss {loss.item():.3f} held-out whole-scene accuracy " +
                  " ".join(f"{n} {100 * v:.1f}%" for n, v in acc.items()) + f" ({time.time() - t0:.0f} s)", flush=True)
            msd = model.state_dict()
            sd = {k: (msd[k] if T.is_vision_param(k) else v).detach().to(torch.float16) for k, v in init.items()}
            torch.save({"model": sd}, a.out + ".tmp")
            os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
