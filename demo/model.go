package demo

import "imglish/encoder/modelfile"

// CheckpointSHA256 is the sha256 of the bundled demo checkpoint,
// testdata/models/demo/demo.pth. The converter records a checkpoint's sha256
// in model.json (Source.CheckpointSHA256) whatever the precision or output
// folder, so it names the demo model wherever it was converted to.
// TestCheckpointSHA256 fails when the checkpoint is retrained
// (tools/train/train_demo.sh) without updating it.
const CheckpointSHA256 = "9499b9add2ecc345cbe92ac9c1ed45edb706289190b00095b3b854d7123fd270"

// IsModel reports whether m was converted from the bundled demo checkpoint:
// a model that knows only the synthetic world of demo/scene, not photographs.
func IsModel(m *modelfile.Manifest) bool {
	return m != nil && m.Source.CheckpointSHA256 == CheckpointSHA256
}
