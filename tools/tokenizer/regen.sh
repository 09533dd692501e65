#!/bin/bash
# Regenerate testdata/tokenizer: the exactness corpus, five SentencePiece models
# trained with Debian's spm_train (package sentencepiece), and the expected
# pieces/ids/decodings from spm_encode/spm_decode (gzipped). Run from the
# repository root:
#
#   tools/tokenizer/regen.sh
#
# Needs ../shared/data (Tux Paint descriptions), /usr/share/i18n/locales and
# /usr/bin/python3. The training text is built in a temp dir and not committed.
set -euo pipefail
OUT=testdata/tokenizer
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"
/usr/bin/python3 tools/tokenizer/build_corpus.py "$TMP"
cp "$TMP/corpus.txt" "$OUT/corpus.txt"

# Relative paths, run inside $TMP: trainer_spec records input and
# model_prefix, and a random temp path would make the models differ per run.
COMMON=(--input=train.txt --vocab_size=8000 --num_threads=2 --minloglevel=1
        --max_sentence_length=8192)
UDS='<sep>,[MASK],imglish,ﬁx,☃'
train() { # name, extra flags...
  local name=$1; shift
  (cd "$TMP" && nice spm_train "${COMMON[@]}" --model_prefix="$name" "$@" >"$name.log" 2>&1) \
    || { cat "$TMP/$name.log"; exit 1; }
  cp "$TMP/$name.model" "$OUT/$name.model"
}
train uni_nmt_nfkc --model_type=unigram --normalization_rule_name=nmt_nfkc \
  --user_defined_symbols="$UDS" --control_symbols='<mask>'
train bpe_nmt_nfkc --model_type=bpe --normalization_rule_name=nmt_nfkc --byte_fallback=true
train uni_identity --model_type=unigram --normalization_rule_name=identity --byte_fallback=true \
  --remove_extra_whitespaces=false
train bpe_identity --model_type=bpe --normalization_rule_name=identity --user_defined_symbols="$UDS" \
  --add_dummy_prefix=false
train uni_nfkc_cf --model_type=unigram --normalization_rule_name=nfkc_cf --treat_whitespace_as_suffix=true

for m in "$OUT"/*.model; do
  name=$(basename "$m" .model)
  spm_encode --model="$m" --output_format=id <"$OUT/corpus.txt" >"$TMP/$name.ids"
  spm_encode --model="$m" --output_format=piece <"$OUT/corpus.txt" >"$TMP/$name.pieces"
  spm_decode --model="$m" --input_format=id <"$TMP/$name.ids" >"$TMP/$name.decoded"
  for k in ids pieces decoded; do gzip -9n <"$TMP/$name.$k" >"$OUT/$name.$k.gz"; done
done
ls -la "$OUT"
