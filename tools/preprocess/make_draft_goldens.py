#!/usr/bin/python3
"""Fixtures and Pillow goldens for the DCT-scaled ("fast") JPEG path.

Regenerate (Debian's Python: Pillow 9.4 linked with libjpeg62-turbo):

    /usr/bin/python3 tools/preprocess/make_draft_goldens.py testdata/preprocess

Writes into the given folder:
  fast_*.jpg                          photo-like JPEGs (1600x1200 and others); the two
                                      with restart markers are written by libjpeg-turbo's
                                      cjpeg (apt-get install libjpeg-turbo-progs), since
                                      Pillow 9.4 cannot write restart markers
  gold_fast_<name>_<S>_exact.png       exif_transpose(open) -> convert('RGB') -> resize((S,S), BICUBIC)
  gold_fast_<name>_<S>_draft.png       open -> draft('RGB', (S,S)) -> exif_transpose -> convert('RGB') -> resize
  jpeg_440.jpg, jpeg_411.jpg          small 4:4:0 and 4:1:1 JPEGs (cjpeg)
  gold_draft_<jpeg>_<n>.png            open -> draft('RGB', size//n) -> convert('RGB'): the decode at 1/n
  fast_manifest.json                   the cases, with the scale Pillow's draft chose

The "exact" golden is the official pipeline (plus EXIF orientation, which
preprocess applies by default); the "draft" golden is what Pillow gives
when told the target size first, which is what preprocess does by default.
"""
import json, os, subprocess, sys, tempfile

import numpy as np
from PIL import Image, ImageOps

out = sys.argv[1] if len(sys.argv) > 1 else "testdata/preprocess"
os.makedirs(out, exist_ok=True)


def photo(w, h, seed):
    """Photo-like content: smooth shading, a horizon, soft and hard edges,
    fine stripes (aliasing if downscaled badly), text-like marks and mild
    sensor noise. Smooth enough to keep the files small."""
    r = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = x / w, y / h
    img = np.zeros((h, w, 3))
    sky = v < 0.45 + 0.05 * np.sin(6 * u)
    img[..., 0] = np.where(sky, 90 + 80 * v, 70 + 60 * u)
    img[..., 1] = np.where(sky, 140 + 60 * v, 110 + 40 * np.sin(9 * u + 3 * v))
    img[..., 2] = np.where(sky, 220 - 40 * v, 60 + 30 * v)
    sun = np.hypot(u - 0.75, v - 0.2) < 0.06
    img[sun] = [250, 235, 180]
    disc = np.hypot(u - 0.3, (v - 0.7) * h / w) < 0.12
    img[disc] = np.stack([200 - 100 * u, 60 + 0 * u, 50 + 100 * v], -1)[disc]
    stripes = (u > 0.05) & (u < 0.25) & (v > 0.05) & (v < 0.3)
    img[stripes] = np.where(((x // 3) % 2 == 0)[stripes, None], 230, 30)
    marks = (u > 0.55) & (u < 0.95) & (v > 0.75) & (v < 0.9) & ((x // 7 + (y // 11) * 3) % 5 == 0)
    img[marks] = [15, 15, 20]
    img += r.normal(0, 1.5, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def exif6():
    ex = Image.Exif()
    ex[0x0112] = 6
    return ex.tobytes()


# name, make(), save kwargs, what, tensor sizes (chosen so that Pillow's
# draft picks 1/2, 1/4 and 1/8 among them while the files stay small)
fixtures = [
    ("fast_420.jpg", lambda: Image.fromarray(photo(1600, 1200, 1), "RGB"),
     dict(quality=90, subsampling=2), "1600x1200 baseline 4:2:0 q90", [384, 224, 100]),
    ("fast_422_prog.jpg", lambda: Image.fromarray(photo(900, 1200, 2), "RGB"),
     dict(quality=85, subsampling=1, progressive=True), "900x1200 progressive 4:2:2 q85", [224, 100]),
    ("fast_444_rot6.jpg", lambda: Image.fromarray(photo(1100, 800, 3), "RGB"),
     dict(quality=80, subsampling=0, exif=exif6()), "1100x800 baseline 4:4:4 q80, EXIF orientation 6", [300, 100]),
    ("fast_gray_prog.jpg", lambda: Image.fromarray(photo(1000, 820, 4)[..., 1], "L"),
     dict(quality=88, progressive=True), "1000x820 progressive grayscale q88", [224, 100]),
    ("fast_restart.jpg", lambda: Image.fromarray(photo(800, 600, 5), "RGB"),
     ["-quality", "85", "-sample", "2x2", "-restart", "3B"], "800x600 baseline 4:2:0, restart every 3 MCUs", [224, 100]),
    ("fast_prog_restart.jpg", lambda: Image.fromarray(photo(800, 600, 6), "RGB"),
     ["-quality", "85", "-sample", "2x1", "-progressive", "-restart", "5B"],
     "800x600 progressive 4:2:2, restart every 5 MCUs (single blocks in the AC scans)", [150, 70]),
]


def save(im, path, kw):
    """Pillow's writer, or cjpeg for an argument list."""
    if isinstance(kw, dict):
        im.save(path, **kw)
        return
    with tempfile.NamedTemporaryFile(suffix=".ppm") as f:
        im.save(f.name)
        subprocess.run(["cjpeg", *kw, "-outfile", path, f.name], check=True)


def draft_scale(w, h, s):
    scale = min(w // s, h // s)
    for n in (8, 4, 2, 1):
        if scale >= n:
            return n


manifest = {"fast": [], "draft": []}
for name, make, kw, what, sizes in fixtures:
    save(make(), f"{out}/{name}", kw)
    for s in sizes:
        base = f"gold_fast_{name[:-4]}_{s}"
        im = Image.open(f"{out}/{name}")
        ImageOps.exif_transpose(im).convert("RGB").resize((s, s), Image.BICUBIC).save(f"{out}/{base}_exact.png", optimize=True)
        im = Image.open(f"{out}/{name}")
        w, h = im.size
        im.draft("RGB", (s, s))
        ImageOps.exif_transpose(im).convert("RGB").resize((s, s), Image.BICUBIC).save(f"{out}/{base}_draft.png", optimize=True)
        manifest["fast"].append({"file": name, "what": what, "size": s, "scale": draft_scale(w, h, s),
                                 "exact": f"{base}_exact.png", "draft": f"{base}_draft.png"})

# Subsamplings Pillow cannot write, at an odd size: 4:4:0 (chroma IDCT-scaled
# vertically, fancy h1v2 upsampling) and 4:1:1 (replication at full size,
# h2v1 fancy at 1/2 and 1/4).
for name, sample in (("jpeg_440.jpg", "1x2"), ("jpeg_411.jpg", "4x1")):
    save(Image.fromarray(photo(173, 97, 7), "RGB"), f"{out}/{name}", ["-quality", "90", "-sample", sample])

# The decoder alone at every scale, on the small fixtures of make_goldens.py
# and the two above (which also get scale 1: the full decode).
for name in ("jpeg_420.jpg", "jpeg_422.jpg", "jpeg_444.jpg", "exif_rot6.jpg", "jpeg_440.jpg", "jpeg_411.jpg"):
    for n in ((1, 2, 4, 8) if name in ("jpeg_440.jpg", "jpeg_411.jpg") else (2, 4, 8)):
        im = Image.open(f"{out}/{name}")
        w, h = im.size
        im.draft("RGB", (w // n, h // n))
        g = f"gold_draft_{name[:-4]}_{n}.png"
        im.convert("RGB").save(f"{out}/{g}")
        manifest["draft"].append({"file": name, "scale": n, "golden": g})

import PIL
manifest["made_with"] = {"pillow": PIL.__version__}
json.dump(manifest, open(f"{out}/fast_manifest.json", "w"), indent=1)
print("wrote", out)
