package convert_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"imglish/encoder/convert"
)

// ExampleConvert converts the tiny reference checkpoint (4 heads of 16, so
// Heads is given: the default is width/64) into a model folder.
func ExampleConvert() {
	out, err := os.MkdirTemp("", "imglish-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(out)
	m, err := convert.Convert(context.Background(), convert.Options{
		Checkpoint: "../../testdata/reference/tiny.pth",
		OutDir:     out,
		Heads:      4,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Architecture.Dim, m.Architecture.Layers, m.Image.Size, m.Precision, m.VisionModel, m.TextModel)
	// Output: 64 2 32 fp32 vision.onnx text.onnx
}
