// Package encoder turns preprocessed images and token ids into unit vectors with a
// converted BEiT-3 dual encoder (vision.onnx and text.onnx) run by ONNX Runtime.
//
// ONNX Runtime has one process-wide environment. This package owns it: the first
// Open initialises it behind a mutex from the library that LibraryPath resolves,
// and every later Open must name the same library. Callers never touch
// onnxruntime_go directly.
//
// An Encoder is safe for concurrent use. Close it when done; Close is idempotent.
package encoder
