package modelfile

// Graph input and output names: the converter writes them into vision.onnx
// and text.onnx, the encoder feeds and reads them. They live here, beside the
// manifest, so that running a model does not link the converter (protobuf,
// gopickle).
const (
	InputPixels = "pixel_values"
	InputIDs    = "input_ids"
	InputMask   = "padding_mask"
	OutputImage = "image_embeds"
	OutputText  = "text_embeds"
)

// Precisions that Manifest.Precision names.
const (
	PrecisionFP32 = "fp32"
	PrecisionFP16 = "fp16"
	PrecisionInt8 = "int8"
)
