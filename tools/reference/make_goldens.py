#!/usr/bin/python3
"""Golden embeddings for any official-layout checkpoint (e.g. a full-size random
one from make_checkpoint.py, or a real one), in the goldens.json format.

Uses the committed inputs: images of testdata/reference/images/ whose size is
the model's image size, and the text id lists of testdata/reference/goldens.json
(ids >= the vocab rows are folded into range), unpadded and padded to 64.
Writes a file that is never committed (it names an uncommitted checkpoint).

    nice /usr/bin/python3 tools/reference/make_goldens.py --checkpoint /tmp/base384.pth \\
        --heads 12 --out /tmp/base384.goldens.json [--image-size 384] [--dtype float64]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import beit3  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "testdata", "reference"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--heads", type=int, help="attention heads (default dim // 64)")
    ap.add_argument("--image-size", type=int, help="resize the vision position table to this (spec 3.3)")
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    ap.add_argument("--name", help="checkpoint name in the output (default: file stem)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    model, cfg = beit3.load_official(args.checkpoint, heads=args.heads, img_size=args.image_size, dtype=dtype)
    name = args.name or os.path.splitext(os.path.basename(args.checkpoint))[0]
    fixtures = json.load(open(os.path.join(ROOT, "goldens.json")))
    h = hashlib.sha256()
    with open(args.checkpoint, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)

    out = {
        "format_version": fixtures["format_version"],
        "generator": "tools/reference/make_goldens.py",
        "compute_dtype": args.dtype,
        "images": {},
        "checkpoints": {name: {"file": os.path.abspath(args.checkpoint), "bytes": os.path.getsize(args.checkpoint),
                               "sha256": h.hexdigest(),
                               "config": dict(vars(cfg), head_dim=cfg.head_dim,
                                              vision_positions=cfg.vision_positions,
                                              tokens=cfg.num_patches + 1)}},
        "goldens": [],
    }
    size = cfg.img_size
    texts = {}
    for g in fixtures["goldens"]:
        if g["checkpoint"] == "base_shaped" and g["modality"] == "text" and g["padding_mask"] is None:
            texts[g["text"]] = g["ids"]
    with torch.no_grad():
        for iname, im in sorted(fixtures["images"].items()):
            if im["shape"] != [3, size, size]:
                continue
            out["images"][iname] = dict(im, file=os.path.join(ROOT, im["file"]))
            x = np.fromfile(os.path.join(ROOT, im["file"]), dtype="<f4").reshape(im["shape"])
            e = model.encode_image(torch.from_numpy(x)[None].to(dtype))[0]
            out["goldens"].append({"checkpoint": name, "image_size": size, "modality": "image", "image": iname,
                                   "embedding": [float(v) for v in e.tolist()]})
            print(f"image {iname} done", file=sys.stderr)
        for tname, ids in sorted(texts.items()):
            ids = [i if i < 3 else 3 + (i - 3) % (cfg.vocab_size - 3) for i in ids]
            n = len(ids)
            pids, mask = ids + [1] * (64 - n), [0] * n + [1] * (64 - n)
            for label, tids, tmask in ((tname, ids, None), (tname + "_pad64", pids, mask)):
                e = model.encode_text(torch.tensor([tids]), torch.tensor([tmask]) if tmask else None)[0]
                out["goldens"].append({"checkpoint": name, "image_size": size, "modality": "text", "text": label,
                                       "ids": tids, "padding_mask": tmask,
                                       "embedding": [float(v) for v in e.tolist()]})
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: {len(out['goldens'])} goldens for {name} at {size} px ({args.dtype})")


if __name__ == "__main__":
    main()
