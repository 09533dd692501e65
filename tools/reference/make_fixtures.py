#!/usr/bin/python3
"""Make the committed BEiT-3 parity fixtures under testdata/reference/.

Random checkpoints in the official BEiT3ForRetrieval layout (torch.save zip),
fixed input images and token-id lists, and golden embeddings computed in
float64 from the stored (16-bit-rounded where applicable) weights.

Deterministic: a fixed seed; rerunning rewrites identical tensors.

    /usr/bin/python3 tools/reference/make_fixtures.py [--out testdata/reference]

The format is documented in tools/reference/README.md.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import math
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import beit3  # noqa: E402

SEED = 20240611
FORMAT_VERSION = 1
QK_SCALE = 1.5   # q/k_proj weights: QK_SCALE * N(0, 1/fan_in)
FC2_SCALE = 2.0  # fc2 weights: FC2_SCALE * N(0, 1/fan_in); the FFN weighs more in the residual


# ---------------------------------------------------------------------------
# Random weights.


def randomize_(model: beit3.BEiT3ForRetrieval, gen: torch.Generator) -> None:
    """Fill every parameter so that an error in any part shows in the output.

    Linear/conv weights N(0, 1/fan_in) (q/k_proj 1.5x, fc1 2.5x, fc2 2x that,
    v_proj 0.01x with bias 0.002*N), other biases 0.1*N, LayerNorm weight
    1 + 0.2*N and bias 0.1*N, token/position/CLS/mask tables N(0, 1),
    heads N(0, 1/D), logit_scale ln(1/0.07).
    """
    tables = ("beit3.text_embed.weight", "beit3.vision_embed.cls_token", "beit3.vision_embed.mask_token")
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            is_ln = ("layer_norm" in name or "inner_attn_ln" in name or "ffn_layernorm" in name)
            is_weight = name.endswith(".weight") and p.dim() >= 2
            fan_in = p[0].numel() if p.dim() >= 2 else 1
            if name == "logit_scale":
                v = torch.tensor(math.log(1 / 0.07), dtype=torch.float64)
            elif name in tables or "embed_positions" in name:
                v = n
            elif is_ln:
                v = 1 + 0.2 * n if name.endswith(".weight") else 0.1 * n
            elif ".v_proj." in name:
                # small values: the inner_attn_ln input then has variance ~1e-4, so
                # LayerNorm eps 1e-5 vs 1e-6 changes the output visibly
                v = 0.01 * n / math.sqrt(fan_in) if is_weight else 0.002 * n
            elif ".fc1." in name and is_weight:
                # pre-GELU std ~2.5, where erf and tanh GELU differ most (|x| ~ 2.7)
                v = 2.5 * n / math.sqrt(fan_in)
            elif (".q_proj." in name or ".k_proj." in name) and is_weight:
                # attention logits std ~QK_SCALE^2: peaked enough that small errors
                # upstream (tanh GELU) move the output, not so peaked that float32 noise grows
                v = QK_SCALE * n / math.sqrt(fan_in)
            elif ".fc2." in name and is_weight:
                v = FC2_SCALE * n / math.sqrt(fan_in)
            elif is_weight:  # out_proj, patch conv, heads
                v = n / math.sqrt(fan_in)
            elif name.endswith(".bias"):
                v = 0.1 * n
            else:
                raise ValueError(f"no rule for parameter {name}")
            p.copy_(v.to(p.dtype))


def build_state_dict(cfg: beit3.BEiT3Config, gen: torch.Generator) -> "collections.OrderedDict":
    """An official-layout float32 state_dict (an OrderedDict with _metadata, as torch makes it)."""
    model = beit3.BEiT3ForRetrieval(cfg).double()
    randomize_(model, gen)
    model = model.float()
    return model.state_dict()


def cast_sd(sd, dtype):
    out = collections.OrderedDict((k, v.detach().to(dtype).clone()) for k, v in sd.items())
    out._metadata = getattr(sd, "_metadata", None)
    return out


# ---------------------------------------------------------------------------
# Inputs.


def make_image(kind: str, size: int, gen: torch.Generator) -> torch.Tensor:
    """A [3, S, S] float32 image with values in [-1, 1]."""
    ax = torch.arange(size, dtype=torch.float64)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    u, v = xx / max(size - 1, 1), yy / max(size - 1, 1)
    if kind == "grad":  # a different smooth ramp per channel, plus a sinusoid
        img = torch.stack([2 * u - 1, 1 - 2 * v, (u + v) - 1 + 0.3 * torch.sin(7 * u * math.pi)])
    elif kind == "checker":  # 5-px cells, not aligned with 16-px patches
        c = ((torch.div(xx, 5, rounding_mode="floor") + torch.div(yy, 5, rounding_mode="floor")) % 2) * 2 - 1
        img = torch.stack([0.8 * c, -0.6 * c, 0.4 * c + 0.2 * (2 * u - 1)])
    elif kind == "noise":  # uniform noise
        img = torch.rand((3, size, size), generator=gen, dtype=torch.float64) * 2 - 1
    elif kind == "pixels":  # what the real pipeline makes: p/127.5 - 1 for uint8 p
        p = torch.randint(0, 256, (3, size, size), generator=gen, dtype=torch.int64)
        img = p.to(torch.float64) / 127.5 - 1
    else:
        raise ValueError(kind)
    return img.clamp(-1, 1).to(torch.float32)


def make_texts(vocab: int, gen: torch.Generator):
    """(name, ids) with 1, 5, 20 and 62 real tokens, wrapped as [0] + ids + [2]."""
    out = []
    for n in (1, 5, 20, 62):
        ids = torch.randint(3, vocab, (n,), generator=gen).tolist()
        if n == 20:
            ids[7] = vocab - 1  # the last table row
            ids[8] = 3          # <unk>
        out.append((f"len{n}", [0] + ids + [2]))
    return out


def pad64(ids):
    n = len(ids)
    return ids + [1] * (64 - n), [0] * n + [1] * (64 - n)


# ---------------------------------------------------------------------------


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cfg_json(cfg: beit3.BEiT3Config):
    d = {f: getattr(cfg, f) for f in ("dim", "layers", "heads", "ffn_dim", "img_size", "patch_size",
                                       "in_chans", "vocab_size", "text_positions", "eps")}
    d["head_dim"] = cfg.head_dim
    d["vision_positions"] = cfg.vision_positions
    d["tokens"] = cfg.num_patches + 1
    return d


def floats(t: torch.Tensor):
    return [float(x) for x in t.tolist()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "testdata", "reference"))
    args = ap.parse_args()
    out = os.path.normpath(args.out)
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    gen = torch.Generator().manual_seed(SEED)

    manifest = {
        "format_version": FORMAT_VERSION,
        "generator": "tools/reference/make_fixtures.py",
        "regenerate": "/usr/bin/python3 tools/reference/make_fixtures.py",
        "seed": SEED,
        "images": {},
        "checkpoints": {},
        "error_checkpoints": {},
        "goldens": [],
    }

    # --- images --------------------------------------------------------------
    images = {}

    def add_image(kind, size):
        name = f"{kind}_{size}"
        t = make_image(kind, size, gen)
        rel = f"images/{name}.f32"
        t.numpy().astype("<f4").tofile(os.path.join(out, rel))
        images[name] = t
        manifest["images"][name] = {"file": rel, "shape": [3, size, size], "dtype": "float32",
                                    "byte_order": "little", "layout": "CHW, C order"}
        return name

    for size in (32, 48):
        for kind in ("grad", "checker", "noise", "pixels"):
            add_image(kind, size)
    add_image("pixels", 224)
    for kind in ("grad", "pixels"):
        add_image(kind, 384)

    # --- checkpoints -----------------------------------------------------------
    def save(name, obj, container, dtype, cfg, note=""):
        rel = f"{name}.pth"
        path = os.path.join(out, rel)
        torch.save(obj, path)  # zip format (torch >= 1.6 default)
        size = os.path.getsize(path)
        if size > 10 * 1024 * 1024:
            raise SystemExit(f"{rel} is {size} bytes, over 10 MB")
        entry = {"file": rel, "container": container, "dtype": dtype, "bytes": size, "sha256": sha256(path),
                 "config": cfg_json(cfg) if cfg is not None else None}
        if note:
            entry["note"] = note
        return entry

    tiny = beit3.BEiT3Config(dim=64, layers=2, heads=4, ffn_dim=256, img_size=32, patch_size=16, vocab_size=1000)
    tiny_sd = build_state_dict(tiny, gen)
    tiny224 = beit3.BEiT3Config(dim=64, layers=2, heads=4, ffn_dim=256, img_size=224, patch_size=16,
                                vocab_size=1000)
    tiny224_sd = build_state_dict(tiny224, gen)
    based = beit3.BEiT3Config(dim=192, layers=2, heads=12, ffn_dim=768, img_size=384, patch_size=16,
                              vocab_size=4000)
    based_sd = build_state_dict(based, gen)

    ckpts = manifest["checkpoints"]
    ckpts["tiny"] = save("tiny", {"model": tiny_sd}, "model", "float32", tiny)
    ckpts["tiny_module_fp16"] = save("tiny_module_fp16", {"module": cast_sd(tiny_sd, torch.float16)}, "module",
                                     "float16", tiny, "tiny's weights rounded to fp16, under 'module'")
    ckpts["tiny_bare_bf16"] = save("tiny_bare_bf16", cast_sd(tiny_sd, torch.bfloat16), "bare", "bfloat16", tiny,
                                   "tiny's weights rounded to bf16, the state_dict itself at top level")
    junk_sd = cast_sd(tiny_sd, torch.float32)
    junk_sd["logit_scale"] = nn.Parameter(junk_sd["logit_scale"].clone())  # an nn.Parameter value
    junk_sd["head.weight"] = torch.randn((10, 64), generator=gen)  # an unused (unexpected) key
    junk = {
        "model": junk_sd,
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-5, "betas": (0.9, 0.98), "params": [0, 1]}]},
        "epoch": 7,
        "scaler": {"scale": 65536.0, "growth_factor": 2.0, "_growth_tracker": 13},
        "args": argparse.Namespace(model="beit3_base_patch16_384_retrieval", input_size=384, lr=1e-5,
                                   drop_path=0.2, task="coco_retrieval", layer_decay=0.65, seed=0,
                                   eval=False, data_path=None),
        "extra_param": nn.Parameter(torch.ones(3)),
    }
    ckpts["tiny_junk"] = save("tiny_junk", junk, "model", "float32", tiny,
                              "tiny's fp32 weights; 'model' also holds an unused key 'head.weight' [10,64] and "
                              "logit_scale as an nn.Parameter; top level also holds 'optimizer' (dict), 'epoch' "
                              "(int), 'scaler' (dict), 'args' (argparse.Namespace), 'extra_param' (nn.Parameter)")
    ckpts["tiny224"] = save("tiny224", {"model": cast_sd(tiny224_sd, torch.float16)}, "model", "float16", tiny224,
                            "224-px checkpoint (14x14 grid, 199-row A table), like the *_itc_patch16_224 files; "
                            "goldens at 224 (native) and at 384 (A table resized per spec 3.3)")
    ckpts["base_shaped"] = save("base_shaped", {"model": cast_sd(based_sd, torch.float16)}, "model", "float16",
                                based, "base-shaped: 12 heads, 384 px, 577 tokens, 579-row A table, 1024-row B table")

    # --- error checkpoints (small, fp16) --------------------------------------
    miss = cast_sd(tiny_sd, torch.float16)
    missing = ["beit3.encoder.layers.1.self_attn.inner_attn_ln.B.bias", "vision_head.weight"]
    for k in missing:
        del miss[k]
    e = save("tiny_missing", {"model": miss}, "model", "float16", tiny)
    e["missing"] = missing
    manifest["error_checkpoints"]["tiny_missing"] = e
    bad = cast_sd(tiny_sd, torch.float16)
    bad_key = "beit3.encoder.layers.0.ffn.A.fc2.weight"
    want = list(bad[bad_key].shape)
    bad[bad_key] = bad[bad_key].t().contiguous().clone()
    e = save("tiny_misshaped", {"model": bad}, "model", "float16", tiny)
    e["misshaped"] = {bad_key: {"got": list(bad[bad_key].shape), "want": want}}
    manifest["error_checkpoints"]["tiny_misshaped"] = e

    # --- goldens ---------------------------------------------------------------
    tiny_texts = make_texts(tiny.vocab_size, gen)
    base_texts = make_texts(based.vocab_size, gen)
    checks = {}

    def goldens(ck_name, image_size, image_names, texts, do_text=True):
        path = os.path.join(out, ckpts[ck_name]["file"])
        heads = ckpts[ck_name]["config"]["heads"]
        model, cfg = beit3.load_official(path, heads=heads, img_size=image_size, dtype=torch.float64)
        m32, _ = beit3.load_official(path, heads=heads, img_size=image_size, dtype=torch.float32)
        worst = 0.0
        with torch.no_grad():
            batch = torch.stack([images[n] for n in image_names]).double()
            embs = model.encode_image(batch)
            for i, n in enumerate(image_names):
                one = model.encode_image(batch[i:i + 1])[0]
                assert (one - embs[i]).abs().max().item() < 1e-12, "batch dependence"
                manifest["goldens"].append({"checkpoint": ck_name, "image_size": image_size, "modality": "image",
                                            "image": n, "embedding": floats(one)})
            worst = max(worst, (m32.encode_image(batch.float()).double() - embs).abs().max().item())
            if do_text:
                for name, ids in texts:
                    t = torch.tensor([ids])
                    e1 = model.encode_text(t)[0]
                    pids, mask = pad64(ids)
                    e2 = model.encode_text(torch.tensor([pids]), torch.tensor([mask]))[0]
                    assert (e1 - e2).abs().max().item() < 1e-12, "padding dependence"
                    manifest["goldens"].append({"checkpoint": ck_name, "image_size": image_size,
                                                "modality": "text", "text": name, "ids": ids, "padding_mask": None,
                                                "embedding": floats(e1)})
                    manifest["goldens"].append({"checkpoint": ck_name, "image_size": image_size,
                                                "modality": "text", "text": name + "_pad64", "ids": pids,
                                                "padding_mask": mask, "embedding": floats(e2)})
                    worst = max(worst, (m32.encode_text(t)[0].double() - e1).abs().max().item())
        checks[f"{ck_name}@{image_size}"] = worst

    tiny_imgs = [f"{k}_32" for k in ("grad", "checker", "noise", "pixels")]
    for ck in ("tiny", "tiny_module_fp16", "tiny_bare_bf16", "tiny_junk"):
        goldens(ck, 32, tiny_imgs, tiny_texts)
    goldens("tiny", 48, [f"{k}_48" for k in ("grad", "checker", "noise", "pixels")], tiny_texts, do_text=False)
    goldens("tiny224", 224, ["pixels_224"], tiny_texts)
    goldens("tiny224", 384, ["grad_384", "pixels_384"], tiny_texts, do_text=False)
    goldens("base_shaped", 384, ["grad_384", "pixels_384"], base_texts)

    manifest["float32_torch_max_abs_diff"] = checks
    with open(os.path.join(out, "goldens.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(out) for fn in fns)
    print(f"wrote {out}: {len(manifest['goldens'])} goldens, {total} bytes")
    for k, v in checks.items():
        print(f"  float32 torch vs float64 golden, max |diff| {k}: {v:.2e}")


if __name__ == "__main__":
    main()
