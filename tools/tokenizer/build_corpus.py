#!/usr/bin/python3
"""Assemble the tokenizer exactness corpus and the (uncommitted) training text.

Run from the repository root with Debian's python3 (see tools/tokenizer/regen.sh):

    /usr/bin/python3 tools/tokenizer/build_corpus.py OUTDIR

Writes OUTDIR/corpus.txt (committed: testdata/tokenizer/corpus.txt) and
OUTDIR/train.txt (training input for spm_train; not committed, rebuilt from the
same sources). Lines are bytes separated by "\n"; a few lines deliberately hold
invalid UTF-8, controls, tabs and odd spaces. Everything is seeded, so the
output is reproducible from the same sources.

Sources: the Tux Paint stamp descriptions and their translations under
../shared/data/caption-dataset/tuxpaint-stamps (GPL-2; single lines are drawn,
no file is copied whole), glibc's locale definitions in /usr/share/i18n/locales
(month and day names, decoded from <Uxxxx> escapes), and synthetic lines built
below for the awkward cases (emoji ZWJ sequences, skin tones, fullwidth forms,
ligatures, combining marks, controls, spaces, very long lines, single chars).
"""
import os
import random
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TUX = os.path.join(ROOT, "..", "shared", "data", "caption-dataset", "tuxpaint-stamps")
LOCALES = "/usr/share/i18n/locales"
rng = random.Random(20260403)


def tux_lines():
    """Yield (file, [lines]) for every stamp description: English first, then translations."""
    out = []
    for dirpath, _, files in sorted(os.walk(TUX)):
        for f in sorted(files):
            if not f.endswith(".txt"):
                continue
            with open(os.path.join(dirpath, f), "rb") as fh:
                raw = fh.read().decode("utf-8", "replace").split("\n")
            lines = []
            for i, ln in enumerate(raw):
                ln = ln.rstrip("\r")
                if i > 0:
                    if "=" not in ln:
                        continue
                    ln = ln.split("=", 1)[1]
                if ln.strip():
                    lines.append(ln)
            if lines:
                out.append((f, lines))
    return out


UESC = re.compile(r"<U([0-9A-Fa-f]{4,6})>")


def locale_lines():
    out = []
    for name in sorted(os.listdir(LOCALES)):
        path = os.path.join(LOCALES, name)
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except (IsADirectoryError, PermissionError):
            continue
        m = re.search(r"^LC_TIME\s*$(.*?)^END LC_TIME", text, re.S | re.M)
        if not m:
            continue
        words = []
        for q in re.findall(r'"([^"]*)"', m.group(1)):
            if "<U" not in q:
                continue
            s = UESC.sub(lambda mm: chr(int(mm.group(1), 16)), q)
            if "%" in s:
                continue
            words.append(s)
        if words:
            out.append(" ".join(words[:40]))
    return out


def cps(a, b):
    return [chr(c) for c in range(a, b + 1)]


SPACES = ["\u00a0", "\u1680", "\u2000", "\u2001", "\u2002", "\u2003", "\u2004", "\u2005", "\u2006",
          "\u2007", "\u2008", "\u2009", "\u200a", "\u202f", "\u205f", "\u3000", "\t", "\u200b",
          "\ufeff", "\u0085", "\u2028", "\u2029", "\u180e", "\u00ad"]
CONTROLS = [chr(c) for c in list(range(0x01, 0x09)) + [0x0b, 0x0c] + list(range(0x0e, 0x20)) + [0x7f]] + \
    cps(0x80, 0x9f) + ["\u200c", "\u200d", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d",
                       "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u2060", "\ufff9", "\ufffb"]
EMOJI = ["👨\u200d👩\u200d👧\u200d👦", "👩\u200d❤\ufe0f\u200d💋\u200d👨", "🏳\ufe0f\u200d🌈", "🏴\u200d☠\ufe0f",
         "👩🏽\u200d💻", "🧑🏿\u200d🚀", "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿", "✋🏾", "🇫🇷", "🇯🇵", "🇧🇷", "1\ufe0f\u20e3",
         "#\ufe0f\u20e3", "❤\ufe0f", "☺", "😀", "🐈\u200d⬛", "🦀", "🫠", "🥲", "👁\ufe0f\u200d🗨\ufe0f",
         "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", "👯\u200d♀\ufe0f", "🤌🏼", "🐕\u200d🦺"]
LIGATURES = ["ﬀ", "ﬁ", "ﬂ", "ﬃ", "ﬄ", "ﬅ", "ﬆ", "Ĳ", "ĳ", "Ǆ", "ǅ", "ǆ", "Ǉ", "ǈ", "ǉ", "Ǌ", "ǋ", "ǌ", "Œ", "œ",
             "Æ", "æ", "ß", "ẞ", "ŉ", "ﬓ", "ﬔ", "ﬗ", "ﭏ", "ﷺ", "ﷻ", "ﻻ", "ﻵ", "㍻", "㈱", "㎏", "㎞", "℡", "™", "℃",
             "№", "…", "‥", "ǲ"]
FULLWIDTH = cps(0xff01, 0xff5e) + cps(0xff61, 0xff9f) + cps(0xffe0, 0xffe6)
COMPAT = ["①", "⑳", "⓪", "Ⅻ", "ⅻ", "²", "³", "¹", "⁴", "₅", "½", "¼", "⅞", "𝐀", "𝒜", "𝔄", "𝕬", "𝖠", "𝟘", "𝟡",
          "ℌ", "ℍ", "ℕ", "ℝ", "ℵ", "Ω", "K", "Å", "ſ", "ﬅ", "ǅ", "µ", "ª", "º", "ı", "İ", "ϐ", "ϑ", "ϕ", "ϱ", "ϵ",
          "ᵃ", "ᵇ", "ꟹ", "㋿", "🄰", "🅐", "🆎", "㉑", "㊿", "⒜", "⑴", "⒈"]
COMBINING = cps(0x0300, 0x036f) + ["\u0483", "\u0591", "\u05b4", "\u064b", "\u0670", "\u093c", "\u094d",
                                   "\u0e31", "\u0e48", "\u1ab0", "\u1dc0", "\u20d0", "\u20e3", "\ufe20", "\u3099", "\u309a"]
SCRIPTS = {
    "latin": "ÀÁÂÃÄÅĀĂĄÇĆĈĊČĎĐÈÉÊËĒĔĖĘĚĜĞĠĢĤĦÌÍÎÏĨĪĬĮİĴĶĹĻĽĿŁÑŃŅŇŊÒÓÔÕÖØŌŎŐŔŖŘŚŜŞŠŢŤŦÙÚÛÜŨŪŬŮŰŲŴÝŶŸŹŻŽàáâãäåāăąçćĉċčďđèéêëēĕėęěĝğġģĥħìíîïĩīĭįıĵķĺļľŀłñńņňŋòóôõöøōŏőŕŗřśŝşšţťŧùúûüũūŭůűųŵýÿŷźżžǎǐǒǔǖǘǚǜơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ",
    "cyrillic": "".join(cps(0x0400, 0x04ff)),
    "greek": "".join(cps(0x0370, 0x03ff)) + "ἀἁἂἃἄἅἆἇὰάὲέὴήὶίὸόὺύὼώᾳῃῳ",
    "arabic": "".join(cps(0x0600, 0x06ff)) + "".join(cps(0xfe70, 0xfeff)),
    "hebrew": "".join(cps(0x0591, 0x05f4)) + "יִﬞײַﬠﬡﬢﬣﬤﬥﬦﬧﬨ﬩שׁשׂשּׁשּׂאַאָאּבּגּדּהּוּזּטּיּךּכּלּמּנּסּףּפּצּקּרּשּתּוֹבֿכֿפֿﭏ",
    "devanagari": "".join(cps(0x0900, 0x097f)),
    "thai": "".join(cps(0x0e01, 0x0e5b)),
    "cjk": "".join(cps(0x4e00, 0x4e00 + 400)) + "".join(cps(0xf900, 0xf900 + 60)) + "".join(cps(0x3040, 0x30ff)) + "".join(cps(0x2f00, 0x2f20)) + "".join(cps(0x3190, 0x319f)) + "𠀀𠀁𪚥𩸽",
    "hangul": "".join(cps(0xac00, 0xac00 + 300)) + "".join(cps(0x1100, 0x11ff)) + "".join(cps(0x3131, 0x318e)) + "".join(cps(0xffa0, 0xffdc)),
    "misc": "€£¥¢©®°±×÷§¶•†‡‰′″‹›«»„“”‘’‚–—―‒−∞≈≠≤≥∑∏√∫∂∆∇∈∉∩∪⊂⊃←↑→↓↔⇒⇔♠♣♥♦♪♫☀☁☂☃★☆✓✗✔✘©ⓒ",
}


def synth_single():
    chars = []
    chars += list("aZ09 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    chars += SPACES + CONTROLS + EMOJI + LIGATURES + COMPAT + COMBINING[:20]
    for name, s in SCRIPTS.items():
        chars += rng.sample(list(s), min(12, len(s)))
    chars += rng.sample(FULLWIDTH, 20)
    chars += ["▁", "\u2581\u2581", "<s>", "</s>", "<unk>", "<pad>", "<mask>", "<sep>", "[MASK]", "\ufffd", "\uffff",
              "\ue000", "\U000f0000", "\U0010fffd", "\U0001d11e"]
    return chars


def rand_mix(n):
    pools = [SCRIPTS[k] for k in SCRIPTS] + ["".join(SPACES), "".join(CONTROLS), "".join(EMOJI),
                                              "".join(LIGATURES), "".join(FULLWIDTH), "".join(COMPAT),
                                              "".join(COMBINING), "abcdefghijklmnopqrstuvwxyz ABC 0123456789 .,;!?"]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 12)):
            pool = rng.choice(pools)
            parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 6))))
            parts.append(rng.choice([" ", " ", "", "  ", "\t", "\u00a0", "\u3000"]))
        out.append("".join(parts))
    return out


def synth_lines(tux_flat):
    L = []
    # Whitespace shapes around real text.
    words = [w for w in " ".join(rng.sample(tux_flat, 200)).split(" ") if w]
    for i in range(120):
        a, b, c = rng.choice(words), rng.choice(words), rng.choice(words)
        sp = rng.choice(SPACES)
        L.append(rng.choice(["", " ", "  ", "\t", sp, sp + sp, " \t "]) + a + rng.choice([" ", "  ", "\t", sp, sp + " " + sp, "   "]) + b + sp + c + rng.choice(["", " ", "  ", "\t", sp, " " + sp + " "]))
    # Controls inside words.
    for i in range(80):
        w = rng.choice(words)
        k = rng.randint(0, len(w))
        L.append(w[:k] + rng.choice(CONTROLS) + w[k:] + " " + rng.choice(words) + rng.choice(CONTROLS))
    # Emoji sentences.
    for i in range(60):
        L.append(" ".join(rng.choice(words + EMOJI) for _ in range(rng.randint(2, 8))) + rng.choice(EMOJI))
    L.append("".join(EMOJI))
    L.append(" ".join(EMOJI))
    # Fullwidth, ligatures, compatibility forms.
    L.append("Ｈｅｌｌｏ　Ｗｏｒｌｄ！ １２３ ＡＢＣ ａｂｃ （テスト） ｶﾀｶﾅ ﾊﾟﾋﾟﾌﾟ")
    L.append("".join(FULLWIDTH))
    L.append("The ﬁrst ﬂoor oﬀers ﬃne ﬄuﬀy staﬀ; ǅemal and Ĳsselmeer ™ № ℃ ㎏ ㎞ ㍻ ㈱")
    L.append(" ".join(LIGATURES))
    L.append(" ".join(COMPAT))
    for i in range(40):
        L.append("".join(rng.choice(LIGATURES + COMPAT + FULLWIDTH) for _ in range(rng.randint(1, 30))))
    # Combining marks: decomposed vs precomposed, stacks, zalgo.
    L.append("cafe\u0301 café naïve nai\u0308ve Ångström A\u030angstro\u0308m")
    L.append("ệ e\u0323\u0302 Vie\u0323\u0302t Nam Việt Nam")
    L.append("Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030e\u0305\u035b\u0341\u0334\u033b\u0348\u034d\u0354\u0339O\u0342\u030c\u030c\u0358\u0328\u0335\u0339\u033b\u031d\u0333")
    for i in range(60):
        w = rng.choice(words)
        L.append("".join(ch + "".join(rng.choice(COMBINING) for _ in range(rng.randint(0, 3))) for ch in w))
    # Hangul jamo sequences (NFKC composes them), Hebrew with points, Devanagari nukta.
    L.append("\u1112\u1161\u11ab\u1100\u1173\u11af 한글 \u1100\u1161 \u3131\u314f ﾡﾢ")
    L.append("שָׁלוֹם עוֹלָם בְּרֵאשִׁית בָּרָא אֱלֹהִים")
    L.append("क़ ख़ ग़ ज़ ड़ ढ़ फ़ य़ \u0915\u093c नमस्ते दुनिया क्षत्रिय")
    L.append("ภาษาไทย สวัสดีครับ กรุงเทพมหานคร อมรรัตนโกสินทร์ ๑๒๓")
    L.append("العَرَبِيَّة ﻻ ﷲ ﷺ مرحبا بالعالم ١٢٣٤٥ ۱۲۳")
    L.append("Ελληνικά ΆΈΉΊΌΎΏ ά έ ή ί ό ύ ώ ΐ ΰ ς σ Σ ᾯ ῼ")
    L.append("Привет, мир! Ёё Йй Ѓ ѓ Ї ї Ґґ")
    L.append("中文 日本語 한국어 漢字 かな カナ ｶﾅ 丽丸乁 \U0002f800 \U0002fa1d")
    # Literal meta symbols and user-defined / control strings inside text.
    for s in ["▁", "▁▁", " ▁ ", "a▁b", "<s>", "</s>", "<unk>", "<pad>", "<mask>", "<sep>", "[MASK]", "imglish", "ﬁx",
              "a<sep>b", "[MASK][MASK]", "x <s> y </s> z", "<0x41>", "<0xE3>", "☃☃", "imglishimglish"]:
        L.append(s)
        L.append("text " + s + " more")
    # Digits, URLs, code.
    L.append("https://example.com/a/b?c=1&d=2#frag user@example.org 192.168.0.1 3.14159 1,000,000 -42 +7 1e-9")
    L.append("func main() { fmt.Println(\"héllo\\tworld\") } // コメント")
    L.append("2026-04-03T12:34:56Z 12:00 ½ ¾ 10¹⁰ H₂O CO₂ x² E=mc²")
    # Pure whitespace and empty-after-normalisation lines.
    L += ["", " ", "  ", "\t", "\t\t", "\u00a0", "\u3000", " \u00a0 \t ", "\u200b", "\u0001", "\u0001\u0002", "\ufeff", "\u00ad"]
    # Random mixtures.
    L += rand_mix(360)
    return L


def long_lines(tux_flat):
    L = []
    for n in (20, 40, 80):
        L.append(" ".join(rng.sample(tux_flat, n)))
    L.append("a" * 5000)
    L.append("ab " * 1500)
    L.append("".join(rng.choice(SCRIPTS["cjk"]) for _ in range(2500)))
    L.append("".join(rng.choice(SCRIPTS["thai"]) for _ in range(2000)))
    L.append(" " * 3000 + "word" + " " * 3000)
    L.append("\t".join(rng.sample(tux_flat, 30)))
    L.append("".join(rng.choice(EMOJI) for _ in range(800)))
    L.append("".join(rng.choice(SCRIPTS["hangul"]) for _ in range(2000)))
    L.append("".join(rng.choice(SPACES + CONTROLS) + rng.choice(tux_flat)[:20] for _ in range(300)))
    L.append("".join(rand_mix(200)))
    L.append("ﬁ" * 2000)
    L.append("\u00a0".join(rng.sample(tux_flat, 50)))
    return L


# Lines with invalid UTF-8, written as bytes: stray continuation bytes, truncated
# sequences, overlong forms, UTF-16 surrogates, bytes above F4.
INVALID = [b"caf\xe9", b"\xff", b"\xfe\xff", b"abc\x80def", b"\xc3", b"x\xc3 y", b"\xc0\xaf", b"\xe0\x80\xaf",
           b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf0\x9f\x98", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80",
           b"ok \xe2\x82 no", b"\xe3\x81\x82\xe3\x81", b"\x80\x80\x80 \xbf"]


def main():
    outdir = sys.argv[1]
    tux = tux_lines()
    if not tux:
        sys.exit("no Tux Paint descriptions under " + TUX)
    tux_flat = [ln for _, lines in tux for ln in lines]
    corpus = []
    for _, lines in tux:
        corpus += rng.sample(lines, min(3, len(lines)))
    corpus += locale_lines()
    corpus += synth_single()
    corpus += synth_lines(tux_flat)
    corpus += long_lines(tux_flat)
    rng.shuffle(corpus)
    blines = []
    for ln in corpus:
        b = ln.encode("utf-8", "surrogatepass")
        if b"\n" in b or b"\r" in b:
            b = b.replace(b"\n", b" ").replace(b"\r", b" ")
        blines.append(b)
    for i, b in enumerate(INVALID):
        blines.insert((i * 211) % len(blines), b)
    with open(os.path.join(outdir, "corpus.txt"), "wb") as fh:
        fh.write(b"\n".join(blines) + b"\n")
    # Training text: every description line, plus the corpus itself so that
    # its characters are mostly covered (unknowns remain for rare ones).
    train = [ln.encode("utf-8") for ln in tux_flat] + blines
    with open(os.path.join(outdir, "train.txt"), "wb") as fh:
        fh.write(b"\n".join(train) + b"\n")
    print("corpus lines:", len(blines), "train lines:", len(train))


if __name__ == "__main__":
    main()
