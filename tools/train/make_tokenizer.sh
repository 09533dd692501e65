#!/bin/sh
# Trains the demo model's SentencePiece tokenizer (unigram, nmt_nfkc) on the
# captions of the demo training scenes. Usage (from the repo root):
#   tools/train/make_tokenizer.sh TRAIN_DIR OUT_PREFIX
# TRAIN_DIR is `imglish demo scenes --all-captions` output (captions.tsv);
# writes OUT_PREFIX.model and OUT_PREFIX.vocab. spm_train is Debian's
# sentencepiece package; it is deterministic for a fixed corpus and flags.
set -eu
train_dir=$1
out=$2
corpus=$(mktemp)
trap 'rm -f "$corpus" "$corpus.words"' EXIT
# Captions, the same captions with a capital first letter (users type both),
# and every ASCII letter/digit so that any typed word still tokenizes into pieces.
cut -f2 "$train_dir/captions.tsv" > "$corpus"
cut -f2 "$train_dir/captions.tsv" | awk 'NR % 4 == 0 { print toupper(substr($0,1,1)) substr($0,2) }' >> "$corpus"
# Every distinct word also on a line of its own: in these repetitive captions a word
# is always followed by the same space, so spm's seed search (maximal repeats of
# the suffix array) would otherwise never propose whole words as pieces.
for i in 1 2 3; do tr ' ' '\n' < "$corpus" | sort -u | grep -v '^$' >> "$corpus.words"; done
cat "$corpus.words" >> "$corpus"
rm -f "$corpus.words"
for i in 1 2 3 4 5 6 7 8 9 10; do
  echo "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 . , ; : ! ? ' \" - ( ) /" >> "$corpus"
done
spm_train --input="$corpus" --model_prefix="$out" --model_type=unigram \
  --vocab_size=400 --hard_vocab_limit=false --character_coverage=1.0 \
  --normalization_rule_name=nmt_nfkc --input_sentence_size=0 --shuffle_input_sentence=false \
  --num_threads=1 --seed_sentencepiece_size=100000 --bos_id=1 --eos_id=2 --pad_id=-1 --unk_id=0 \
  --minloglevel=1
