#!/usr/bin/python3
"""A second, independent float64 implementation of spec §2 and §3.3 in plain
numpy (explicit per-patch conv, per-head loops, own bicubic), checked against
testdata/reference/goldens.json. It shares no code with beit3.py, so a slip in
either one (patch order, head split, position rows, resize) shows here.

    /usr/bin/python3 tools/reference/numpy_check.py
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
import torch

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata",
                                     "reference"))
EPS = 1e-5


def ln(x, w, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w + b


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def softmax(s):
    s = s - s.max(-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(-1, keepdims=True)


def encoder(sd, x, br, heads, L, mask=None):
    T, D = x.shape
    d = D // heads
    for i in range(L):
        p = f"beit3.encoder.layers.{i}."
        g = lambda k: sd[p + k.replace("#", br)]  # noqa: E731
        h = ln(x, g("self_attn_layer_norm.#.weight"), g("self_attn_layer_norm.#.bias"))
        q = (h @ g("self_attn.q_proj.#.weight").T + g("self_attn.q_proj.#.bias")) * d ** -0.5
        k = h @ g("self_attn.k_proj.#.weight").T + g("self_attn.k_proj.#.bias")
        v = h @ g("self_attn.v_proj.#.weight").T + g("self_attn.v_proj.#.bias")
        o = np.zeros_like(q)
        for j in range(heads):
            c = slice(j * d, (j + 1) * d)
            s = q[:, c] @ k[:, c].T
            if mask is not None:
                s[:, mask.astype(bool)] = -np.inf
            o[:, c] = softmax(s) @ v[:, c]
        o = ln(o, g("self_attn.inner_attn_ln.#.weight"), g("self_attn.inner_attn_ln.#.bias"))
        x = x + o @ g("self_attn.out_proj.#.weight").T + g("self_attn.out_proj.#.bias")
        h = ln(x, g("final_layer_norm.#.weight"), g("final_layer_norm.#.bias"))
        h = gelu(h @ g("ffn.#.fc1.weight").T + g("ffn.#.fc1.bias"))
        h = ln(h, g("ffn.#.ffn_layernorm.weight"), g("ffn.#.ffn_layernorm.bias"))
        x = x + h @ g("ffn.#.fc2.weight").T + g("ffn.#.fc2.bias")
    return ln(x, sd[f"beit3.encoder.layer_norm.{br}.weight"], sd[f"beit3.encoder.layer_norm.{br}.bias"])


def cubic_w(x, A=-0.75):
    x = abs(x)
    if x <= 1:
        return (A + 2) * x ** 3 - (A + 3) * x ** 2 + 1
    if x < 2:
        return A * x ** 3 - 5 * A * x ** 2 + 8 * A * x - 4 * A
    return 0.0


def resize_axis(a, new, axis):
    orig = a.shape[axis]
    a = np.moveaxis(a, axis, 0)
    out = np.zeros((new,) + a.shape[1:])
    for i in range(new):
        src = (i + 0.5) * (orig / new) - 0.5
        i0 = math.floor(src)
        t = src - i0
        for kk, dist in zip((-1, 0, 1, 2), (t + 1, t, 1 - t, 2 - t)):
            out[i] += cubic_w(dist) * a[min(max(i0 + kk, 0), orig - 1)]
    return np.moveaxis(out, 0, axis)


def resize_pos(pos, new):
    orig = int(math.isqrt(pos.shape[0] - 3))
    if orig == new:
        return pos
    grid = pos[3:].reshape(orig, orig, -1)
    grid = resize_axis(resize_axis(grid, new, 0), new, 1)
    return np.concatenate([pos[:3], grid.reshape(new * new, -1)])


def image(sd, img, cfg, S):
    P, D = cfg["patch_size"], cfg["dim"]
    W = sd["beit3.vision_embed.proj.weight"].reshape(D, -1)
    n = S // P
    toks = [sd["beit3.vision_embed.cls_token"].reshape(D)]
    for r in range(n):
        for c in range(n):
            patch = img[:, r * P:(r + 1) * P, c * P:(c + 1) * P].reshape(-1)
            toks.append(W @ patch + sd["beit3.vision_embed.proj.bias"])
    x = np.stack(toks)
    pos = resize_pos(sd["beit3.encoder.embed_positions.A.weight"], n)
    x = x + pos[2:2 + x.shape[0]]
    x = encoder(sd, x, "A", cfg["heads"], cfg["layers"])
    f = sd["vision_head.weight"] @ x[0]
    return f / max(np.linalg.norm(f), 1e-12)


def text(sd, ids, mask, cfg):
    ids = np.array(ids)
    x = sd["beit3.text_embed.weight"][ids] + sd["beit3.encoder.embed_positions.B.weight"][2:2 + len(ids)]
    m = None
    if mask is not None:
        m = np.array(mask)
        x = x * (1 - m)[:, None]
    x = encoder(sd, x, "B", cfg["heads"], cfg["layers"], m)
    g = sd["language_head.weight"] @ x[0]
    return g / max(np.linalg.norm(g), 1e-12)


def main():
    man = json.load(open(os.path.join(ROOT, "goldens.json")))
    worst = 0.0
    sds = {}
    for gld in man["goldens"]:
        ck = man["checkpoints"][gld["checkpoint"]]
        if gld["checkpoint"] not in sds:
            obj = torch.load(os.path.join(ROOT, ck["file"]), map_location="cpu")
            sd = obj.get("model", obj.get("module", obj)) if isinstance(obj, dict) else obj
            sds[gld["checkpoint"]] = {k: v.detach().double().numpy() for k, v in sd.items() if torch.is_tensor(v)}
        sd, cfg = sds[gld["checkpoint"]], ck["config"]
        if gld["modality"] == "image":
            im = man["images"][gld["image"]]
            img = np.fromfile(os.path.join(ROOT, im["file"]), dtype="<f4").reshape(im["shape"]).astype(np.float64)
            got = image(sd, img, cfg, gld["image_size"])
        else:
            got = text(sd, gld["ids"], gld["padding_mask"], cfg)
        worst = max(worst, np.abs(got - np.array(gld["embedding"])).max())
    print(f"numpy re-implementation vs goldens: {len(man['goldens'])} goldens, max |diff| {worst:.3e}")
    sys.exit(0 if worst < 1e-9 else 1)


if __name__ == "__main__":
    main()
