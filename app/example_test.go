package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"imglish/app"
	"imglish/demo/scene"
	"imglish/encoder/convert"
)

// Example embeds imglish in a program: it opens the bundled demo model and a
// new store with app.Open, indexes a few synthetic demo scenes with the
// App's indexer and searches them by text, all in process (no server).
func Example() {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "imglish-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(tmp)

	// The demo model: its checkpoint converted into the ONNX graphs
	// imglish runs (`imglish convert` does the same).
	demo := filepath.Join("..", "testdata", "models", "demo")
	modelDir := filepath.Join(tmp, "model")
	if _, err := convert.Convert(ctx, convert.Options{
		Checkpoint: filepath.Join(demo, "demo.pth"), OutDir: modelDir, Tokenizer: filepath.Join(demo, "demo.model"),
	}); err != nil {
		fmt.Println(err)
		return
	}
	// A folder of photos: here, eight demo scenes (images/test-00000N.png).
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

	a, err := app.Open(ctx, app.Config{ModelDir: modelDir, DataDir: filepath.Join(tmp, "data")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	if _, err := a.Indexer().Run(ctx, filepath.Join(photos, scene.ImagesDir)); err != nil {
		fmt.Println(err)
		return
	}

	// Search with scene 5's caption; the best hit is that scene's image
	// (cosine 0.82 against 0.39 for the runner-up, so the order is stable).
	caption := gen.Scene(5).Captions[0]
	resp, err := a.Search(ctx, app.SearchRequest{Text: caption, K: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	top := filepath.Base(resp.Hits[0].Path)
	fmt.Println(strings.TrimSuffix(top, filepath.Ext(top)))
	// Output: test-000005
}
