#!/bin/sh
# Rebuilds the committed demo model (testdata/models/demo) from scratch: scenes
# from the Go generator, the SentencePiece tokenizer, the supervised vision
# pre-training, then ITC training of both towers, exactly as they were run (see
# testdata/models/demo/README.md). Run from the repository root; takes about
# 45 minutes of this 2-core machine. WORK defaults to /tmp/imglish-demo.
set -eu
WORK=${WORK:-/tmp/imglish-demo}
PY=/usr/bin/python3
mkdir -p "$WORK"
go build -o "$WORK/imglish" ./cmd/imglish
"$WORK/imglish" demo scenes --out "$WORK/train" --n 40000 --size 128 --seed 1 --split train --all-captions
"$WORK/imglish" demo scenes --out "$WORK/test-multi" --n 1000 --size 128 --seed 1 --split test --min-objects 2 --all-captions
"$WORK/imglish" demo scenes --out "$WORK/test-single" --n 1000 --first 1000000 --size 128 --seed 1 --split test --max-objects 1 --all-captions
tools/train/make_tokenizer.sh "$WORK/train" testdata/models/demo/demo
# 1. The vision tower alone: colour, shape and background of single-object
#    scenes, plus per-patch shape and foreground-mask losses.
$PY tools/train/pretrain_vision.py --scenes "$WORK/train" --test "$WORK/test-single" \
  --spm testdata/models/demo/demo.model --out "$WORK/pre.pth" --steps 2500 --lr 1e-3 --zoom 0.3 --threads 2
# 2. ITC: a fresh text tower learns to match the (briefly frozen) vision tower,
#    then both train together.
rm -rf "$WORK/run"
$PY tools/train/train.py --train "$WORK/train" --test-multi "$WORK/test-multi" \
  --test-single "$WORK/test-single" --spm testdata/models/demo/demo.model --out "$WORK/run" \
  --init "$WORK/pre.pth" --reinit-text --freeze-vision 300 --steps 1500 --lr 1e-3 --shape-groups 0.25 --threads 2
cp "$WORK/run/last.pth" testdata/models/demo/demo.pth
