// Package encoder turns preprocessed images and token ids into unit vectors with a
// converted BEiT-3 dual encoder (vision.onnx and text.onnx, written by
// encoder/convert) run by ONNX Runtime.
//
// ONNX Runtime has one process-wide environment. This package owns it: the first
// Open initialises it behind a mutex from the library that LibraryPath resolves,
// and every later Open must name the same library; the last Close destroys it.
// Callers never touch onnxruntime_go directly.
//
// Inputs. EmbedImages takes n×3×S×S float32 CHW tensors, already resized and
// normalised as model.json says (encoder/preprocess does this). EmbedTexts takes
// token id sequences framed as <s> … </s> (encoder/tokenizer does this). Texts
// of different lengths are sorted by length and padded within a run with the key
// padding mask, which spec §2.2 shows is exact: a vector never depends on its
// batch mates beyond float32 rounding. Large requests are split into runs of at
// most 8 images (Options.ImageBatch: 1 for base and large fp32 at 384 px, 64
// with CUDA) or 64 texts — int8 models run one item per run, since their
// activations are quantised per tensor — and ctx
// is checked between runs and cancels a run in flight through ORT's terminate
// flag.
//
// Providers. The CPU runs the `make setup` library. Options.Provider "cuda"
// uses the GPU build from `make setup-gpu` through ORT's plugin provider API
// (cuda.go, a small cgo shim); ProbeCUDA and Open's ErrProvider say why it
// cannot run when it cannot. ORT's worker threads do not spin unless
// Options.Spin: on a shared machine spinning costs more than it saves.
//
// An Encoder is safe for concurrent use: ORT sessions accept concurrent runs.
// Close waits for runs in flight, then frees the sessions; it is idempotent, and
// later calls return ErrClosed. Every ORT value is destroyed before a call
// returns.
//
// Security: model folders are trusted input (ONNX graphs run native kernels);
// Open with Verify checks every file against the sha256 in model.json.
package encoder
