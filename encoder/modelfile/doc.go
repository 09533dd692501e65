// Package modelfile reads and writes model.json, the manifest of a converted
// imglish model folder (vision.onnx, text.onnx, the tokenizer and their hashes).
//
// The converter (encoder/convert) writes it; the encoder, the indexer and the
// server read it. It also holds the graph input/output names and precision
// names both sides agree on, so the encoder does not link the converter.
// Every value here is plain data and safe to share read-only.
package modelfile
