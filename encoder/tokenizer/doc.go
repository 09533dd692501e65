// Package tokenizer is a pure-Go SentencePiece tokenizer that reproduces
// SentencePiece 0.1.97 (Debian's spm_encode/spm_decode) exactly, plus the
// XLM-R/fairseq id mapping and input framing BEiT-3 uses (spec §5).
//
// It reads a SentencePiece model file (.model/.spm, a serialised ModelProto)
// directly, decoding the protobuf wire format with protowire (proto.go lists
// the fields used), and implements:
//
//   - normalisation from the model's normalizer_spec: the precompiled charsmap
//     (the Darts-clone double-array trie and replacement strings SentencePiece
//     stores for nmt_nfkc, nfkc, nfkc_cf, nmt_nfkc_cf or a user rule set;
//     identity models have none), longest match first, malformed UTF-8 bytes
//     becoming U+FFFD one byte at a time, add_dummy_prefix,
//     remove_extra_whitespaces, escape_whitespaces ("▁") and
//     treat_whitespace_as_suffix. Go's unicode/norm is not used: the charsmap
//     is the only source of truth.
//   - unigram segmentation (Viterbi over piece scores, with SentencePiece's
//     float/double arithmetic, unknown score = lowest score − 10, user-defined
//     pieces always preferred) and BPE segmentation (merges by piece score,
//     leftmost first, UNUSED pieces re-split);
//   - byte_fallback ("<0xNN>" pieces for unknown characters), merging of runs
//     of unknown pieces otherwise, user-defined pieces (never normalised,
//     never split) and control pieces (never produced from text);
//   - Decode, as SentencePiece's DecodeIds.
//
// WORD and CHAR models are refused with ErrUnsupported.
//
// Exactness is tested, not assumed: testdata/tokenizer holds a corpus of more
// than 3,000 lines (many scripts, emoji ZWJ sequences, fullwidth forms,
// ligatures, combining marks, controls, odd spaces, invalid UTF-8, very long
// lines, single characters), five models trained with spm_train (unigram and
// BPE; nmt_nfkc, nfkc_cf and identity; byte fallback; user-defined and control
// symbols; no dummy prefix; whitespace kept; whitespace as suffix) and
// spm_encode's ids and pieces and spm_decode's text for every line;
// TestExactness requires all of them to match. tools/tokenizer/regen.sh
// rebuilds them.
//
// # BEiT-3 ids
//
// BEiT-3 feeds XLMRobertaTokenizer ids: <s>=0, <pad>=1, </s>=2, <unk>=3,
// every other SentencePiece id shifted by one (XLMRID), <mask>=VocabSize()+1
// (MaskID). BEiT3Input frames a text as [0] + first maxTokens−2 ids + [2]
// (maxTokens is 64 for BEiT-3) and refuses a text with no pieces (ErrEmpty).
// One known divergence: HuggingFace splits literal special-token strings such
// as "<mask>" or "</s>" out of the text before calling SentencePiece; this
// package passes them to SentencePiece like any other text, as spm_encode does.
//
// # Concurrency and resources
//
// A Tokenizer is immutable after Load or LoadBytes and safe for concurrent use.
// It holds no files or other resources; there is nothing to close. Memory is
// a few times the model file (the piece table and a double-array trie).
//
// # Security
//
// Model files are treated as untrusted input: lengths are bounded (Load reads
// at most 1 GiB), a malformed protobuf or charsmap gives ErrInvalidModel, and
// trie lookups into a corrupt charsmap stop at the array bounds instead of
// reading past them as SentencePiece would. Encoding any text, including
// invalid UTF-8, never panics (FuzzEncode). Time is linear in the text length
// for unigram (times the longest piece) and O(n log n) for BPE; a 1 MB line
// takes well under a second for unigram and a few seconds for BPE on this
// project's 2-core test machine, so callers should bound input length
// (BEiT-3 only looks at the first 62 pieces anyway).
package tokenizer
