#!/usr/bin/python3
"""Train imglish's demo BEiT-3 dual encoder on the synthetic demo world.

The model is tools/reference/beit3.py's BEiT3ForRetrieval (the official
architecture and state_dict keys), only small; the loss is the ITC loss of
BEiT-3's retrieval fine-tuning: symmetric cross-entropy over
exp(logit_scale) * cosine(image, text), with a learnable logit_scale.

Data come from the Go scene generator (`imglish demo scenes`), images are
preprocessed exactly like the product (PIL bicubic squash resize to the model
size, p/127.5 - 1), after augmentations the product must survive (small crops,
rescaling with aspect changes, JPEG re-encoding). Captions are tokenized with
the demo SentencePiece model and XLM-R's id mapping (spec section 5).

Deterministic for a fixed seed: batches and augmentations are functions of
(seed, step, slot); torch runs single-process math on fixed threads.

Usage (repo root; Debian's python3 with python3-torch):
  nice -n 10 /usr/bin/python3 tools/train/train.py --train DIR --test-multi DIR \
      --test-single DIR --spm testdata/models/demo/demo.model --out OUTDIR
Writes OUTDIR/last.pth (fp16 {'model': state_dict}, like the official files),
OUTDIR/state.pt (optimizer state for --resume) and OUTDIR/log.jsonl.
tools/train/train_demo.sh runs the exact sequence of phases (--stop-at,
--resume, --focus-single) that made testdata/models/demo/demo.pth.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import time

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import beit3  # noqa: E402  (the reference module; no second BEiT-3 implementation)


# ---------------------------------------------------------------------------
# Text: SentencePiece + XLM-R/fairseq id mapping (spec section 5).

BOS, PAD, EOS, UNK = 0, 1, 2, 3
MAX_TOKENS = 64


class Tokenizer:
    def __init__(self, path: str):
        self.sp = spm.SentencePieceProcessor(model_file=path)
        self.pieces = self.sp.get_piece_size()
        self.mask = self.pieces + 1  # <mask>; the embedding table needs pieces + 2 rows

    def ids(self, text: str) -> list[int]:
        out = [UNK if i == 0 else i + 1 for i in self.sp.encode(text)]
        if not out:
            raise ValueError(f"caption {text!r} has no tokens")
        return [BOS] + out[: MAX_TOKENS - 2] + [EOS]

    def batch(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        seqs = [self.ids(t) for t in texts]
        n = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), n), PAD, dtype=torch.long)
        mask = torch.ones((len(seqs), n), dtype=torch.long)  # 1 = pad
        for k, s in enumerate(seqs):
            ids[k, : len(s)] = torch.tensor(s)
            mask[k, : len(s)] = 0
        return ids, mask


# ---------------------------------------------------------------------------
# Images.


def to_tensor(img: Image.Image, size: int) -> torch.Tensor:
    """The product's preprocessing: RGB, PIL bicubic squash resize, p/127.5 - 1."""
    img = img.convert("RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.BICUBIC)
    a = np.asarray(img, dtype=np.float32)
    return torch.from_numpy(a / 127.5 - 1.0).permute(2, 0, 1).contiguous()


def augment(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Small crop, rescale with a mild aspect change, JPEG re-encoding.

    No flips or big crops: captions say left/right/top/bottom, and the generator
    keeps a 5% margin, so crops of at most ~5% per side never cut an object away.
    """
    w, h = img.size
    if rng.random() < 0.5:
        area = rng.uniform(0.88, 1.0)
        ar = math.exp(rng.uniform(math.log(0.92), math.log(1.08)))
        cw = min(w, int(round(w * math.sqrt(area * ar))))
        ch = min(h, int(round(h * math.sqrt(area / ar))))
        x0 = int(rng.integers(0, w - cw + 1))
        y0 = int(rng.integers(0, h - ch + 1))
        img = img.crop((x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        side = rng.uniform(56, 200)
        ar = math.exp(rng.uniform(math.log(0.8), math.log(1.25)))
        img = img.resize((max(16, int(side * math.sqrt(ar))), max(16, int(side / math.sqrt(ar)))), Image.BICUBIC)
    if rng.random() < 0.5:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(rng.integers(35, 96)))
        buf.seek(0)
        img = Image.open(buf)
        img.load()
    return img


def load_set(d: str) -> tuple[list[dict], list[bytes]]:
    scenes, blobs = [], []
    with open(os.path.join(d, "scenes.jsonl")) as f:
        for line in f:
            s = json.loads(line)
            scenes.append(s)
            with open(os.path.join(d, s["file"]), "rb") as g:
                blobs.append(g.read())
    return scenes, blobs


class TrainData(torch.utils.data.Dataset):
    """Item (step, slot) -> (pixels, caption): a pure function of the seed."""

    def __init__(self, scenes, blobs, size, seed, batch, focus_single=0.0, shape_groups=0.0, achromatic=0.0,
                 zoom=0.0):
        self.scenes, self.blobs, self.size, self.seed, self.batch = scenes, blobs, size, seed, batch
        self.n = len(scenes)
        self.focus_single = focus_single
        self.singles = [k for k, s in enumerate(scenes) if len(s["objects"]) == 1]
        self.by_colour = {}
        for k in self.singles:
            self.by_colour.setdefault(scenes[k]["objects"][0]["colour"], []).append(k)
        # --shape-groups: the first slots of every batch (a multiple of the six
        # shapes) are groups of six single-object scenes with one colour and one
        # background, one scene per shape, so within a group only the shape
        # tells the captions apart.
        self.n_shape = int(shape_groups * batch) // len(SHAPES) * len(SHAPES)
        self.by_cbs = {}
        for k in self.singles:
            o = scenes[k]["objects"][0]
            self.by_cbs.setdefault((o["colour"], scenes[k]["background"], o["shape"]), []).append(k)
        self.cb = sorted({(c, b) for c, b, _ in self.by_cbs
                          if all((c, b, sh) in self.by_cbs for sh in range(len(SHAPES)))})
        # --achromatic: that share of shape groups is white or black on a
        # black, white or gray background, where an edge looks the same in
        # every channel (a linear patch embedding sees an edge between two
        # colours as a colour-specific pattern).
        self.achromatic = achromatic
        self.cb_achro = [(c, b) for c, b in self.cb if c in ACHRO_OBJ and b in ACHRO_BG and c != b]
        # --zoom: that share of shape-group slots with the bare caption is a
        # crop around the object (2.5-5 radii a side); bare captions name no
        # position, so the crop keeps them true. Measured with
        # tools/train/shape_probe.py: with the label given directly, a fresh
        # vision tower learns zoomed shapes (66% after 1,000 steps) but not
        # whole-scene ones (chance after 200).
        self.zoom = zoom
        self._perm_epoch, self._perm = -1, None

    def perm(self, epoch: int) -> np.ndarray:
        if self._perm_epoch != epoch:
            self._perm = np.random.default_rng([self.seed, 1, epoch]).permutation(self.n)
            self._perm_epoch = epoch
        return self._perm

    def __len__(self):
        return 1 << 40

    def __getitem__(self, key):
        step, slot = divmod(key, self.batch)
        pos = step * self.batch + slot
        epoch, off = divmod(pos, self.n)
        idx = int(self.perm(epoch)[off])
        rng = np.random.default_rng([self.seed, 2, step, slot])
        focus = self.focus_single > 0 and rng.random() < self.focus_single
        if slot < self.n_shape:
            focus = True
            grp = np.random.default_rng([self.seed, 4, step, slot // len(SHAPES)])
            cbs = self.cb_achro if grp.random() < self.achromatic else self.cb
            c, b = cbs[int(grp.integers(0, len(cbs)))]
            pool = self.by_cbs[(c, b, slot % len(SHAPES))]
            idx = pool[int(rng.integers(0, len(pool)))]
        elif focus:
            # Groups of 8 slots share one colour, so the batch holds same-colour
            # objects of different shapes: only shape tells their captions apart.
            grp = np.random.default_rng([self.seed, 3, step, slot // 8])
            pool = self.by_colour[sorted(self.by_colour)[int(grp.integers(0, len(self.by_colour)))]]
            idx = pool[int(rng.integers(0, len(pool)))]
        img = Image.open(io.BytesIO(self.blobs[idx]))
        caps = self.scenes[idx]["captions"]
        cap = caps[int(rng.integers(0, len(caps)))]
        if focus and rng.random() < 0.7:
            cap = minimal_caption(self.scenes[idx])
            if slot < self.n_shape and rng.random() < self.zoom:
                img = zoom_crop(img.convert("RGB"), self.scenes[idx]["objects"][0], rng)
        img = augment(img, rng)
        if rng.random() < 0.25:
            cap = cap[:1].upper() + cap[1:]  # users capitalise the first word
        return to_tensor(img, self.size), cap


ACHRO_OBJ = (6, 7)  # white, black
ACHRO_BG = (6, 7, 8)  # white, black, gray


def zoom_crop(img: Image.Image, obj: dict, rng: np.random.Generator) -> Image.Image:
    """A square crop, inside the frame, around one object: 2.5-5 radii a
    side (the object fills 40-80% of it), its centre jittered."""
    w, h = img.size
    side = min(obj["r"] * w * rng.uniform(2.5, 5.0), w, h)
    cx = obj["x"] * w + rng.uniform(-0.15, 0.15) * side
    cy = obj["y"] * h + rng.uniform(-0.15, 0.15) * side
    x0 = int(round(min(max(cx - side / 2, 0), w - side)))
    y0 = int(round(min(max(cy - side / 2, 0), h - side)))
    s = int(round(side))
    return img.crop((x0, y0, x0 + s, y0 + s))


def is_text_param(name: str) -> bool:
    """The language side: token table, text positions, every multiway B
    branch, language_head."""
    return "text_embed" in name or ".B." in name or name.startswith("language_head")


def is_vision_param(name: str) -> bool:
    """The vision side: everything but the language side and logit_scale."""
    return not is_text_param(name) and name != "logit_scale"


def set_trainable(model, side, on: bool):
    """Switch requires_grad of the parameters whose name side(name) selects."""
    for n, p in model.named_parameters():
        if side(n):
            p.requires_grad_(on)


def minimal_caption(scene: dict) -> str:
    """ "a red circle" for a single-object scene: the bare colour+shape wording
    (what zero-shot prompts and many users type). Multi-object captions can be
    matched from colours, background and layout alone, so without these the
    model learns shapes late (measured: 20% shape accuracy after 300 steps)."""
    o = scene["objects"][0]
    c, s = COLOURS[o["colour"]], SHAPES[o["shape"]]
    return f"{'an' if c[0] in 'aeiou' else 'a'} {c} {s}"


class StepSampler(torch.utils.data.Sampler):
    def __init__(self, start, batch):
        self.start, self.batch = start, batch

    def __iter__(self):
        step = self.start
        while True:
            yield [step * self.batch + k for k in range(self.batch)]
            step += 1


def collate(items):
    return torch.stack([p for p, _ in items]), [c for _, c in items]


# ---------------------------------------------------------------------------
# Loss and evaluation.


def itc_loss(model, img, ids, mask, caps):
    """Symmetric CE over exp(logit_scale)*cos. Identical captions in a batch are
    all positives (soft targets), so "a red circle" twice is not a false negative."""
    v = model.encode_image(img)
    t = model.encode_text(ids, padding_mask=mask)
    scale = model.logit_scale.exp()
    logits = scale * v @ t.t()
    same = torch.tensor([[a == b for b in caps] for a in caps], dtype=torch.float32)
    target = same / same.sum(1, keepdim=True)
    loss = (torch.sum(-target * F.log_softmax(logits, 1), 1).mean()
            + torch.sum(-target * F.log_softmax(logits.t(), 1), 1).mean()) / 2
    return loss


@torch.no_grad()
def embed_images(model, blobs, size, bs=250):
    out = []
    for k in range(0, len(blobs), bs):
        x = torch.stack([to_tensor(Image.open(io.BytesIO(b)), size) for b in blobs[k:k + bs]])
        out.append(model.encode_image(x))
    return torch.cat(out)


@torch.no_grad()
def embed_texts(model, tok, texts, bs=500):
    out = []
    for k in range(0, len(texts), bs):
        ids, mask = tok.batch(texts[k:k + bs])
        out.append(model.encode_text(ids, padding_mask=mask))
    return torch.cat(out)


def recall(scores: torch.Tensor, txt_img: torch.Tensor, ks=(1, 5, 10)) -> dict:
    """BEiT-3 protocol (spec 2.4): scores [images, texts]; txt_img[j] = image of text j."""
    res = {}
    n_img = scores.shape[0]
    topt = scores.topk(max(ks), dim=1).indices  # image -> texts
    topi = scores.t().topk(max(ks), dim=1).indices  # text -> images
    for k in ks:
        tr = (txt_img[topt[:, :k]] == torch.arange(n_img)[:, None]).any(1).float().mean().item()
        ir = (topi[:, :k] == txt_img[:, None]).any(1).float().mean().item()
        res[f"tr@{k}"] = round(100 * tr, 2)
        res[f"ir@{k}"] = round(100 * ir, 2)
    return res


COLOURS = ["red", "orange", "yellow", "green", "blue", "purple", "white", "black", "gray"]
SHAPES = ["circle", "square", "triangle", "star", "diamond", "cross"]


def zero_shot_prompts():
    out = []
    for c in COLOURS[:8]:
        for s in SHAPES:
            art = "an" if c[0] in "aeiou" else "a"
            out.append((f"{art} {c} {s}", c, s))
    return out


@torch.no_grad()
def evaluate(model, tok, size, multi, single) -> dict:
    model.eval()
    res = {}
    scenes, blobs = multi
    iv = embed_images(model, blobs, size)
    tv = embed_texts(model, tok, [s["captions"][0] for s in scenes])
    res.update(recall(iv @ tv.t(), torch.arange(len(scenes))))
    scenes, blobs = single
    iv = embed_images(model, blobs, size)
    prompts = zero_shot_prompts()
    pv = embed_texts(model, tok, [p for p, _, _ in prompts])
    pred = (iv @ pv.t()).argmax(1)
    ok = okc = oks = 0
    for s, p in zip(scenes, pred.tolist()):
        o = s["objects"][0]
        c, sh = COLOURS[o["colour"]] == prompts[p][1], SHAPES[o["shape"]] == prompts[p][2]
        ok, okc, oks = ok + (c and sh), okc + c, oks + sh
    res["zero_shot_acc"] = round(100 * ok / len(scenes), 2)
    res["zero_shot_colour"] = round(100 * okc / len(scenes), 2)
    res["zero_shot_shape"] = round(100 * oks / len(scenes), 2)
    model.train()
    return res


# ---------------------------------------------------------------------------


def save(model, opt, step, out, tag="last"):
    sd = {k: v.detach().to(torch.float16).clone() for k, v in model.state_dict().items()}
    tmp = os.path.join(out, f".{tag}.pth.tmp")
    torch.save({"model": sd}, tmp)
    os.replace(tmp, os.path.join(out, f"{tag}.pth"))
    tmp = os.path.join(out, ".state.pt.tmp")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, tmp)
    os.replace(tmp, os.path.join(out, "state.pt"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--test-multi", required=True)
    ap.add_argument("--test-single", required=True)
    ap.add_argument("--spm", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--img", type=int, default=80)
    ap.add_argument("--patch", type=int, default=16)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--warmup", type=int, default=40)
    ap.add_argument("--lr", type=float, default=1.2e-3)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--save-every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--heads", type=int, default=0, help="attention heads (0: dim/64, the converter's default)")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/state.pt (model, optimizer, step)")
    ap.add_argument("--stop-at", type=int, default=0,
                    help="stop after this step (checkpoint saved) while the LR schedule still runs to --steps")
    ap.add_argument("--shape-groups", type=float, default=0.0,
                    help="share of batch slots (rounded down to a multiple of 6) filled with groups of six "
                         "single-object scenes of one colour and background, one per shape, 70%% of them "
                         "with the bare 'a red circle' caption")
    ap.add_argument("--achromatic", type=float, default=0.0,
                    help="share of shape groups that are white or black objects on a black, white or gray background")
    ap.add_argument("--zoom", type=float, default=0.0,
                    help="share of bare-caption shape-group slots cropped around the object")
    ap.add_argument("--init", default="", help="start from this checkpoint's weights (fresh optimizer, step 0)")
    ap.add_argument("--reinit-text", action="store_true",
                    help="with --init: re-initialise the language side (token table, text positions, B branches, "
                         "language_head) and logit_scale")
    ap.add_argument("--freeze-text", type=int, default=0,
                    help="keep the language side fixed until this step: random text embeddings then act as fixed "
                         "class prototypes, so the vision tower gets a shape signal that a shape-blind text tower "
                         "cannot give (both towers blind to shape is a saddle of the ITC loss)")
    ap.add_argument("--freeze-vision", type=int, default=0,
                    help="keep the vision side fixed until this step: with a pre-trained vision tower "
                         "(pretrain_vision.py) and a fresh text tower, the text tower first learns to match "
                         "the vision features instead of the random text gradients eroding them")
    ap.add_argument("--hold", type=float, default=0.0,
                    help="share of the steps after warm-up at the full LR before the cosine decay starts")
    ap.add_argument("--focus-single", type=float, default=0.0,
                    help="share of batch slots drawn from single-object scenes (in same-colour groups of 8), "
                         "70%% of them with the bare 'a red circle' caption")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    tok = Tokenizer(a.spm)
    cfg = beit3.BEiT3Config(dim=a.dim, layers=a.layers, heads=a.heads or a.dim // 64, ffn_dim=4 * a.dim,
                            img_size=a.img, patch_size=a.patch, vocab_size=tok.pieces + 2,
                            text_positions=1024)
    model = beit3.BEiT3ForRetrieval(cfg)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98), eps=1e-6)
    start = 0
    if a.init:
        fresh = {k: v.clone() for k, v in model.state_dict().items()}
        sd = {k: v.float() for k, v in torch.load(a.init)["model"].items()}
        if a.reinit_text:
            sd.update({k: v for k, v in fresh.items() if is_text_param(k) or k == "logit_scale"})
        model.load_state_dict(sd)
    if a.resume and os.path.exists(os.path.join(a.out, "state.pt")):
        st = torch.load(os.path.join(a.out, "state.pt"))
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        start = st["step"]

    t0 = time.time()
    train = load_set(a.train)
    multi = load_set(a.test_multi)
    single = load_set(a.test_single)
    log = open(os.path.join(a.out, "log.jsonl"), "a")

    def emit(rec):
        rec["elapsed_s"] = round(time.time() - t0, 1)
        print(json.dumps(rec), flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()

    emit({"event": "start", "config": vars(a), "model": dataclass_dict(cfg), "pieces": tok.pieces,
          "params": sum(p.numel() for p in model.parameters()), "train_scenes": len(train[0]), "step": start})
    data = TrainData(train[0], train[1], a.img, a.seed, a.batch, a.focus_single, a.shape_groups, a.achromatic,
                     a.zoom)
    loader = torch.utils.data.DataLoader(data, batch_sampler=StepSampler(start, a.batch), collate_fn=collate,
                                         num_workers=1, prefetch_factor=4, persistent_workers=True)

    def lr_at(step):
        if step < a.warmup:
            return a.lr * (step + 1) / a.warmup
        hold = a.warmup + int(a.hold * (a.steps - a.warmup))
        if step < hold:
            return a.lr
        p = (step - hold) / max(1, a.steps - hold)
        return a.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))

    model.train()
    step = start
    ema, tl = None, time.time()
    for img, caps in loader:
        if step >= a.steps or (a.stop_at and step >= a.stop_at):
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        if a.freeze_text and step in (start, a.freeze_text):
            set_trainable(model, is_text_param, step >= a.freeze_text)
        if a.freeze_vision and step in (start, a.freeze_vision):
            set_trainable(model, is_vision_param, step >= a.freeze_vision)
        ids, mask = tok.batch(caps)
        loss = itc_loss(model, img, ids, mask, caps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))  # CLIP's cap; keeps the loss finite
        step += 1
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % 10 == 0:
            emit({"step": step, "loss": round(ema, 4), "lr": lr_at(step), "scale": round(model.logit_scale.exp().item(), 2),
                  "s_per_step": round((time.time() - tl) / 10, 2)})
            tl = time.time()
        if step % a.save_every == 0 or step == a.steps or step == a.stop_at:
            save(model, opt, step, a.out)
        if step % a.eval_every == 0 or step == a.steps:
            emit({"step": step, "eval": evaluate(model, tok, a.img, multi, single)})
            tl = time.time()
    emit({"event": "done", "step": step})


def dataclass_dict(cfg):
    import dataclasses
    return dataclasses.asdict(cfg)


if __name__ == "__main__":
    main()
