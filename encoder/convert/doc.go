// Package convert turns an official BEiT3ForRetrieval checkpoint (a torch.save
// zip archive) into an imglish model folder: vision.onnx, text.onnx, model.json
// and, when given, the SentencePiece tokenizer. It is pure Go: no Python, no
// protoc at run time.
//
// Reading. OpenCheckpoint parses the archive's pickle with a restricted class
// resolver: tensors and nn.Parameters become lazy references into the zip, and
// every other object (argparse.Namespace, optimiser state, ints) is accepted
// and ignored, never executed. Tensor bytes are read one tensor at a time when
// the graph is written, so converting needs little more memory than the largest
// tensor (the token table) plus the Go runtime.
//
// Config inference. Width, depth, FFN width, patch size, vocabulary rows and
// text positions come from tensor shapes; the image size from the vision
// position table (rows − 3 = (S/patch)²). The head count is not visible in any
// shape: it is Options.Heads when set, else width/64 (base: 12, large: 16), and
// a width that is not a multiple of 64 needs Options.Heads.
//
// Graphs. See graph.go: opset 17, LayerNormalization, one fused q/k/v MatMul,
// Softmax, erf GELU, weights pre-transposed to [in, out]. In float32 graphs the
// vision attention is one com.microsoft MultiHeadAttention node (fuse.go:
// exact, and ORT cannot fuse BEiT-3's sub-LN attention itself); Options.Unfused
// keeps standard ops only. PrecisionInt8 emits the linear layers as
// DynamicQuantizeMatMul with per-column int8 weights (quantize.go). Files are written
// atomically (temp, fsync, rename, fsync dir); model.json last, so a folder
// with a model.json is complete.
//
// Convert is safe to call concurrently for different output folders.
package convert
