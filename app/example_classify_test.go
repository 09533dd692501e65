package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"imglish/app"
	"imglish/demo/scene"
	"imglish/encoder/convert"
)

// ExampleApp_Classify classifies a demo scene zero-shot, in process: with
// the label set "default" and nothing stored, the demo model classifies
// against the 48 prompts of its world (app.BuiltinDemoLabelSet); a scene
// with one object is named by its colour and shape.
func ExampleApp_Classify() {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "imglish-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(tmp)
	demo := filepath.Join("..", "testdata", "models", "demo")
	modelDir := filepath.Join(tmp, "model")
	if _, err := convert.Convert(ctx, convert.Options{
		Checkpoint: filepath.Join(demo, "demo.pth"), OutDir: modelDir, Tokenizer: filepath.Join(demo, "demo.model"),
	}); err != nil {
		fmt.Println(err)
		return
	}
	a, err := app.Open(ctx, app.Config{ModelDir: modelDir, DataDir: filepath.Join(tmp, "data")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()

	// The first test scene with a single object, drawn as a PNG.
	gen, err := scene.New(scene.Options{Seed: 7, Split: scene.Test})
	if err != nil {
		fmt.Println(err)
		return
	}
	photos := filepath.Join(tmp, "scenes")
	if err := scene.WriteDataset(ctx, photos, gen, scene.DatasetOptions{N: 8, Size: 96}); err != nil {
		fmt.Println(err)
		return
	}
	i := 0
	for gen.Scene(i).NumObjects() != 1 {
		i++
	}
	img, err := os.ReadFile(filepath.Join(photos, scene.ImagesDir, fmt.Sprintf("test-%06d.png", i)))
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := a.Classify(ctx, app.ClassifyRequest{ImageBytes: img, LabelSet: app.DefaultLabelSet})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.LabelSet, len(resp.Labels))
	fmt.Printf("%s: %s\n", gen.Scene(i).Caption(), resp.Labels[0].Label)
	// Output:
	// builtin:demo 48
	// a small white square at the bottom on a red background: a white square
}
