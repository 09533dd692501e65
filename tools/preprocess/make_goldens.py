#!/usr/bin/python3
"""Make the preprocessing fixtures and Pillow/torchvision goldens.

Regenerate (Debian's Python, which has Pillow 9.4, torch and torchvision):

    /usr/bin/python3 tools/preprocess/make_goldens.py testdata/preprocess

Writes into the given folder:
  fix_*.png / *.jpg / *.webp / *.tiff   self-made structured fixtures
  gold_<fixture>_<W>x<H>.png              Pillow convert('RGB') + resize((W,H), BICUBIC)
  orient_<n>.png                          PNG with eXIf orientation n (1..8)
  gold_orient_<n>.png                     Pillow ImageOps.exif_transpose + convert('RGB')
  lut.json                                torch ToTensor+Normalize of bytes 0..255
  tensor_fix_rgb_37.f32                   full torchvision tensor for one case
  manifest.json                           what each fixture is and its expected outcome
"""
import io, json, os, struct, sys, zlib

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image, ImageOps, TiffImagePlugin

out = sys.argv[1] if len(sys.argv) > 1 else "testdata/preprocess"
os.makedirs(out, exist_ok=True)
rng = np.random.RandomState(20240607)
SIZES = [(384, 384), (224, 224), (37, 37), (100, 61)]


def structured(w, h, seed):
    """Gradients, hard edges, a ring, a checker patch and some noise."""
    r = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    img[..., 0] = 255 * x / max(w - 1, 1)
    img[..., 1] = 255 * y / max(h - 1, 1)
    img[..., 2] = 127 + 120 * np.sin(x / 5.0 + y / 9.0)
    img[(x > w * 0.6) & (y < h * 0.3)] = [250, 10, 5]          # hard-edged block
    ring = np.abs(np.hypot(x - w * 0.3, y - h * 0.6) - min(w, h) * 0.2) < 2
    img[ring] = [0, 0, 0]
    chk = ((x // 2 + y // 2) % 2 == 0) & (x < w * 0.2) & (y < h * 0.25)
    img[chk] = [255, 255, 255]
    nz = (x > w * 0.7) & (y > h * 0.7)
    img[nz] = r.randint(0, 256, size=(int(nz.sum()), 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def png_raw(w, h, depth, ctype, rows, interlace=0):
    """Minimal PNG writer (Pillow cannot write 16-bit RGB)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


manifest = {"resize": [], "orient": [], "cases": []}
fixtures = {}

a = structured(173, 97, 1)
Image.fromarray(a, "RGB").save(f"{out}/fix_rgb.png", optimize=True)
fixtures["fix_rgb.png"] = "RGB 173x97"

a = structured(640, 480, 2)
Image.fromarray(a, "RGB").save(f"{out}/fix_rgb_large.png", optimize=True)
fixtures["fix_rgb_large.png"] = "RGB 640x480, shrinks to every size"

a = structured(5, 3, 3)
Image.fromarray(a, "RGB").save(f"{out}/fix_tiny.png")
fixtures["fix_tiny.png"] = "RGB 5x3, enlarges to every size"

rgb = structured(150, 211, 4)
alpha = (np.add.outer(np.arange(211), np.arange(150)) % 256).astype(np.uint8)
alpha[:20, :20] = 0  # fully transparent corner keeps its colour in convert('RGB')
Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(f"{out}/fix_rgba.png")
fixtures["fix_rgba.png"] = "RGBA 150x211 with varying alpha (dropped, not composited)"

pal = Image.fromarray(structured(129, 64, 5), "RGB").quantize(colors=60, method=Image.MEDIANCUT)
pal.info["transparency"] = 3
pal.save(f"{out}/fix_palette.png", transparency=3)
fixtures["fix_palette.png"] = "palette 129x64, 60 colours, index 3 transparent"

g = structured(61, 300, 6)[..., 0]
Image.fromarray(g, "L").save(f"{out}/fix_gray.png")
fixtures["fix_gray.png"] = "gray 61x300"

la = np.dstack([structured(90, 90, 7)[..., 1], structured(90, 90, 8)[..., 2]])
Image.fromarray(la, "LA").save(f"{out}/fix_gray_alpha.png")
fixtures["fix_gray_alpha.png"] = "gray+alpha 90x90"

a16 = structured(77, 55, 9).astype(np.uint16) * 257 + rng.randint(0, 257, size=(55, 77, 3)).astype(np.uint16)
open(f"{out}/fix_rgb16.png", "wb").write(png_raw(77, 55, 16, 2, [a16[y].astype(">u2").tobytes() for y in range(55)]))
fixtures["fix_rgb16.png"] = "16-bit RGB 77x55 (Pillow keeps the high byte)"

g16 = (np.add.outer(np.arange(48) * 40, np.arange(64) * 7) % 600).astype(np.uint16)  # crosses 255 to test clipping
open(f"{out}/fix_gray16.png", "wb").write(png_raw(64, 48, 16, 0, [g16[y].astype(">u2").tobytes() for y in range(48)]))
fixtures["fix_gray16.png"] = "16-bit gray 64x48, values 0..599 (Pillow clips to 255)"

cmyk = np.dstack([structured(83, 71, 10), structured(83, 71, 11)[..., :1]])
Image.fromarray(cmyk, "RGBA").save(f"{out}/fix_cmyk_raw.png")
fixtures["fix_cmyk_raw.png"] = "CMYK samples stored as the 4 channels of an RGBA PNG (the Go test reinterprets them)"


def upright(path):
    """Pillow's exif_transpose; load() first, as 9.4 misses a PNG eXIf otherwise."""
    im = Image.open(path)
    im.load()
    return ImageOps.exif_transpose(im).convert("RGB")


def load_rgb(name):
    im = Image.open(f"{out}/{name}")
    if name == "fix_cmyk_raw.png":
        im = Image.frombytes("CMYK", im.size, im.tobytes())
    return im.convert("RGB")


for name in sorted(fixtures):
    im = load_rgb(name)
    for (w, h) in SIZES:
        g = f"gold_{name[:-4]}_{w}x{h}.png"
        im.resize((w, h), Image.BICUBIC).save(f"{out}/{g}", optimize=True)
        manifest["resize"].append({"fixture": name, "what": fixtures[name], "width": w, "height": h, "golden": g})
    if name in ("fix_rgb.png", "fix_rgb_large.png", "fix_tiny.png"):
        continue  # convert('RGB') is the identity there
    conv = f"gold_{name[:-4]}_rgb.png"
    im.save(f"{out}/{conv}")
    manifest["resize"].append({"fixture": name, "what": fixtures[name], "width": 0, "height": 0, "golden": conv})

# Orientation: PNG eXIf with every tag value; the golden is Pillow's exif_transpose.
base = Image.fromarray(structured(23, 11, 12), "RGB")
for o in range(1, 9):
    ex = Image.Exif()
    ex[0x0112] = o
    base.save(f"{out}/orient_{o}.png", exif=ex.tobytes())
    upright(f"{out}/orient_{o}.png").save(f"{out}/gold_orient_{o}.png")
    manifest["orient"].append({"file": f"orient_{o}.png", "orientation": o, "golden": f"gold_orient_{o}.png"})

# Lossless WebP and TIFF carrying orientation (their own EXIF paths).
ex = Image.Exif(); ex[0x0112] = 8
base.save(f"{out}/orient_8.webp", lossless=True, exif=ex.tobytes())
manifest["orient"].append({"file": "orient_8.webp", "orientation": 8, "golden": "gold_orient_8.png"})
base.save(f"{out}/orient_3.tiff", tiffinfo={274: 3})
manifest["orient"].append({"file": "orient_3.tiff", "orientation": 3, "golden": "gold_orient_3.png"})
# (Pillow 9.4 already rotates TIFF pixels by tag 274 on load, so exif_transpose
# would turn orient_3.tiff twice; its golden is the PNG one, checked here by hand.)
assert np.array_equal(np.array(Image.open(f"{out}/orient_3.tiff").convert("RGB")),
                      np.array(Image.open(f"{out}/gold_orient_3.png")))
for f in ("orient_8.webp",):  # check Pillow agrees with the golden it names
    want = [m for m in manifest["orient"] if m["file"] == f][0]["golden"]
    assert np.array_equal(np.array(upright(f"{out}/{f}")),
                          np.array(Image.open(f"{out}/{want}"))), f

# A small JPEG with orientation 6 and the metadata the indexer keeps.
ex = Image.Exif()
ex[0x0112] = 6
ex[0x010f] = "imglish"
ex[0x0110] = "Fixture Cam 1"
R = TiffImagePlugin.IFDRational
ex[0x8769] = {0x9003: "2021:07:04 12:34:56", 0x9011: "+02:00", 0xa434: "Test Lens 35mm"}
ex[0x8825] = {1: "S", 2: (R(33, 1), R(51, 1), R(2166, 100)), 3: "E", 4: (R(151, 1), R(12, 1), R(3000, 100)),
              5: b"\x00", 6: R(585, 10)}
stored = Image.fromarray(structured(48, 32, 13), "RGB")
stored.save(f"{out}/exif_rot6.jpg", quality=95, exif=ex.tobytes())
upright(f"{out}/exif_rot6.jpg").save(f"{out}/gold_exif_rot6_upright.png")
chk = Image.open(f"{out}/exif_rot6.jpg").getexif()
assert chk[0x0112] == 6 and chk.get_ifd(0x8769)[0x9003] == "2021:07:04 12:34:56", chk

# JPEGs in each chroma subsampling at odd sizes: Go decodes them with
# libjpeg's fancy upsampling and colour tables, so only the IDCT differs.
for sub, tag in ((0, "444"), (1, "422"), (2, "420")):
    Image.fromarray(structured(173, 97, 15), "RGB").save(f"{out}/jpeg_{tag}.jpg", quality=92, subsampling=sub)
    Image.open(f"{out}/jpeg_{tag}.jpg").convert("RGB").save(f"{out}/gold_jpeg_{tag}.png")
    manifest.setdefault("jpeg", []).append({"file": f"jpeg_{tag}.jpg", "golden": f"gold_jpeg_{tag}.png"})

# Hostile and broken inputs.
full = open(f"{out}/fix_rgb.png", "rb").read()
open(f"{out}/bad_truncated.png", "wb").write(full[: len(full) // 2])
jpg = open(f"{out}/exif_rot6.jpg", "rb").read()
open(f"{out}/bad_truncated.jpg", "wb").write(jpg[: len(jpg) * 2 // 3])
hdr = png_raw(100000, 100000, 8, 2, [b"\x00" * 3])  # claims 30 GB; IDAT has one short row
open(f"{out}/bomb_header.png", "wb").write(hdr)
i = jpg.find(b"\xff\xc0")
sof = bytearray(jpg); sof[i + 5:i + 9] = struct.pack(">HH", 60000, 60000)
open(f"{out}/bomb_sof.jpg", "wb").write(bytes(sof))
open(f"{out}/bomb_zlib.png", "wb").write(png_raw(4000, 4000, 8, 0, [b"\x00" * 4000] * 4000))  # 16 MP of zeros in ~16 KB
open(f"{out}/bad_text.jpg", "wb").write(b"this is not an image, whatever its name says\n" * 4)
Image.fromarray(structured(30, 20, 14), "RGB").save(f"{out}/sniff_png_named.jpg", format="PNG")
manifest["cases"] = [
    {"file": "bad_truncated.png", "want": "corrupt"},
    {"file": "bad_truncated.jpg", "want": "corrupt"},
    {"file": "bomb_header.png", "want": "too_large"},
    {"file": "bomb_sof.jpg", "want": "too_large"},
    {"file": "bomb_zlib.png", "want": "too_large_at_1mp"},
    {"file": "bad_text.jpg", "want": "unsupported"},
    {"file": "sniff_png_named.jpg", "want": "ok"},
]

# torch: the per-byte values of ToTensor + Normalize, and one whole tensor.
lut = {}
for key, mean, std in [("beit3", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
                       ("imagenet", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]:
    ramp = Image.fromarray(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2), "RGB")
    t = T.Compose([T.ToTensor(), T.Normalize(mean, std)])(ramp)  # 3x1x256
    lut[key] = {"mean": mean, "std": std,
                "bits": [[int(v) for v in t[c, 0].numpy().view(np.uint32)] for c in range(3)]}
json.dump(lut, open(f"{out}/lut.json", "w"))
tf = T.Compose([T.Resize((37, 37), interpolation=T.InterpolationMode.BICUBIC), T.ToTensor(),
                T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
tf(Image.open(f"{out}/fix_rgb.png").convert("RGB")).numpy().astype("<f4").tofile(f"{out}/tensor_fix_rgb_37.f32")

import PIL, torchvision
manifest["made_with"] = {"pillow": PIL.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__}
json.dump(manifest, open(f"{out}/manifest.json", "w"), indent=1)
print("wrote", out)
