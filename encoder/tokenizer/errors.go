package tokenizer

import "errors"

// ErrInvalidModel reports a SentencePiece model file that cannot be used: a
// malformed protobuf, a truncated or inconsistent normaliser charsmap, an empty
// or duplicate piece, no unknown piece, or byte pieces without byte_fallback.
// SentencePiece refuses the same models at load time.
var ErrInvalidModel = errors.New("invalid sentencepiece model")

// ErrUnsupported reports a well-formed model whose segmentation algorithm this
// package does not implement (trainer_spec.model_type WORD or CHAR); only
// UNIGRAM and BPE are supported.
var ErrUnsupported = errors.New("unsupported sentencepiece model type")

// ErrEmpty reports a text that produces no pieces at all (empty, only
// whitespace, or only characters the normaliser deletes), which BEiT-3 cannot
// embed: its data loader rejects an empty token list.
var ErrEmpty = errors.New("empty text")

// ErrMaxTokens reports a token budget too small to hold <s>, one piece and </s>.
var ErrMaxTokens = errors.New("max tokens below 3")
