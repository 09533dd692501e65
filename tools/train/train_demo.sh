#!/bin/sh
# Rebuilds the committed demo model (testdata/models/demo) from scratch: scenes
# from the Go generator, the SentencePiece tokenizer, then the training phases
# exactly as they were run (see testdata/models/demo/README.md for why there
# are phases). Run from the repository root; takes about an hour of one CPU
# core. WORK defaults to /tmp/imglish-demo.
set -eu
WORK=${WORK:-/tmp/imglish-demo}
PY=/usr/bin/python3
mkdir -p "$WORK"
go build -o "$WORK/imglish" ./cmd/imglish
"$WORK/imglish" demo scenes --out "$WORK/train" --n 40000 --size 128 --seed 1 --split train --all-captions
"$WORK/imglish" demo scenes --out "$WORK/test-multi" --n 1000 --size 128 --seed 1 --split test --min-objects 2 --all-captions
"$WORK/imglish" demo scenes --out "$WORK/test-single" --n 1000 --first 1000000 --size 128 --seed 1 --split test --max-objects 1 --all-captions
tools/train/make_tokenizer.sh "$WORK/train" testdata/models/demo/demo
run() {
  nice -n 10 $PY tools/train/train.py --train "$WORK/train" --test-multi "$WORK/test-multi" \
    --test-single "$WORK/test-single" --spm testdata/models/demo/demo.model --out "$WORK/run" "$@"
}
rm -rf "$WORK/run"
run --steps 600 --stop-at 300
run --steps 1800 --stop-at 550 --resume
run --steps 1300 --stop-at 700 --focus-single 0.4 --resume
run --steps 1400 --focus-single 0.5 --resume
cp "$WORK/run/last.pth" testdata/models/demo/demo.pth
