// Package model is imglish's one application core for a converted BEiT-3
// model folder: Open loads model.json, the SentencePiece tokenizer it names
// and both ONNX Runtime graphs, and the Model it returns is the only place
// that turns texts and image files into model input. Every door uses it —
// the HTTP API and the Weaviate vectorizer (server.Model adapts it), `imglish
// embed`, `imglish search`, `imglish serve` and `imglish index` (the indexer
// takes its preprocessing settings from ImageOptions), demo eval and the
// benches — so a setting cannot differ between them.
//
// # Fidelity
//
// Texts are framed as BEiT-3's retrieval code does: <s>, the first
// Info().MaxTokens−2 SentencePiece pieces, </s>, where MaxTokens is
// model.json's text.max_tokens (64 for the official checkpoints), never more
// than the text graph accepts (encoder.Encoder.TextWindow). Images are
// resized and normalised with model.json's image size, mean and std; JPEGs
// are decoded at reduced scale unless Options.ExactJPEG (see
// preprocess.Options.Exact).
//
// # Concurrency and ownership
//
// A Model is safe for concurrent use. It owns its encoder: Close waits for
// runs in flight and frees the sessions; it is idempotent. Encoder and
// Tokenizer expose the parts for callers that feed raw ids or tensors
// (`imglish embed --tokens/--tensor`) and for parity tests; they must not be
// closed separately.
package model
