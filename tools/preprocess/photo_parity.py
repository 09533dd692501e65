#!/usr/bin/python3
"""Pillow's output for every JPEG under ../shared/data/photos, for the Go parity report.

    /usr/bin/python3 tools/preprocess/photo_parity.py OUTDIR [SIZE]
    IMGLISH_PILLOW_DIR=OUTDIR go test -run TestPhotoParity -v ./encoder/preprocess/

For each photo it writes OUTDIR/<relative path>.rgb: the official pipeline's
uint8 image (Image.open → convert('RGB') → resize((SIZE, SIZE), BICUBIC); no
EXIF orientation, as BEiT-3's loader), SIZE×SIZE×3 bytes; and
OUTDIR/<relative path>.draft.rgb: the same after im.draft('RGB', (SIZE, SIZE)),
which is what preprocess's default (not Exact) JPEG path reproduces. Not
committed: it is derived from the shared images and large.
"""
import os, sys
from PIL import Image

out = sys.argv[1]
size = int(sys.argv[2]) if len(sys.argv) > 2 else 384
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data", "photos")
n = 0
for dp, _, fs in os.walk(root):
    for f in sorted(fs):
        if not f.lower().endswith((".jpg", ".jpeg")):
            continue
        rel = os.path.relpath(os.path.join(dp, f), root)
        try:
            im = Image.open(os.path.join(dp, f)).convert("RGB").resize((size, size), Image.BICUBIC)
            dr = Image.open(os.path.join(dp, f))
            dr.draft("RGB", (size, size))
            dr = dr.convert("RGB").resize((size, size), Image.BICUBIC)
        except Exception as e:  # Pillow fails on a few; the Go test skips files without output
            print("skip", rel, e, file=sys.stderr)
            continue
        dst = os.path.join(out, rel + ".rgb")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "wb").write(im.tobytes())
        open(os.path.join(out, rel + ".draft.rgb"), "wb").write(dr.tobytes())
        n += 1
print(n, "photos written to", out, "at", size)
