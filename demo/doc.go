// Package demo measures imglish's bundled demo model (testdata/models/demo)
// on the synthetic world of demo/scene, through the same path the product
// uses: rendered scenes are PNG-encoded, decoded and resized by
// encoder/preprocess, embedded by encoder (ONNX Runtime), captions are
// tokenized by encoder/tokenizer, and results are ranked by cosine.
//
// Evaluate is safe for concurrent use (the encoder is); it renders with a few
// goroutines and checks its context between batches.
//
// The demo model knows only the synthetic world: eight colours, six shapes,
// two sizes, counts up to three, left/right/top/bottom and "left of"/"above"
// relations, plain backgrounds. It is there so `make run` and the end-to-end
// tests show genuine cross-modal search without downloading a real model.
package demo
