package model_test

import (
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"imglish/encoder/convert"
	"imglish/encoder/tokenizer"
	"imglish/internal/testenv"
	"imglish/model"
	"imglish/model/modeltest"
)

// tinyModel converts the tiny reference checkpoint (32 px), with the demo
// tokenizer unless noTokenizer.
func tinyModel(t *testing.T, noTokenizer bool) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	opts := convert.Options{Checkpoint: testenv.Path(t, "testdata", "reference", "tiny.pth"), OutDir: dir, ImageSize: 32}
	if !noTokenizer {
		opts.Tokenizer = testenv.Path(t, "testdata", "models", "demo", "demo.model")
	}
	if _, err := convert.Convert(t.Context(), opts); err != nil {
		t.Fatalf("convert: %v", err)
	}
	return dir
}

// TestModel: the façade frames texts to model.json's 64-token window, takes
// its image settings from model.json and Options, prepares a file as it
// prepares its bytes, and refuses what it cannot do with its sentinels.
func TestModel(t *testing.T) {
	dir := tinyModel(t, false)
	m, err := model.Open(t.Context(), dir, model.Options{ExactJPEG: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Info().MaxTokens; got != modeltest.Window {
		t.Errorf("Info().MaxTokens = %d, want %d", got, modeltest.Window)
	}
	ref := modeltest.Reference(t, m, modeltest.LongText)
	vecs, err := m.EmbedTexts(t.Context(), []string{"a red circle", modeltest.LongText})
	if err != nil {
		t.Fatal(err)
	}
	modeltest.Check(t, "Model.EmbedTexts", vecs[1], ref)
	if _, err := m.EmbedTexts(t.Context(), []string{"ok", "   "}); !errors.Is(err, model.ErrEmptyText) || !errors.Is(err, tokenizer.ErrEmpty) {
		t.Errorf("empty text: %v, want ErrEmptyText wrapping tokenizer.ErrEmpty", err)
	}

	man := m.Manifest()
	o := m.ImageOptions()
	if o.Size != man.Image.Size || o.Mean != man.Image.Mean || o.Std != man.Image.Std || !o.Exact {
		t.Errorf("ImageOptions = %+v, want model.json's size/mean/std and Exact", o)
	}
	// A JPEG at least twice the input size on both sides, where ExactJPEG
	// matters: the file and its bytes give the same tensor.
	img := image.NewRGBA(image.Rect(0, 0, 150, 100))
	for y := range 100 {
		for x := range 150 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y * 2), uint8(x ^ y), 255})
		}
	}
	path := filepath.Join(t.TempDir(), "a.jpg")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(jpeg.Encode(f, img, &jpeg.Options{Quality: 90}), f.Close()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := m.PrepareFile(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	fromBytes, err := m.PrepareImage(t.Context(), data, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fromFile, fromBytes) || len(fromFile) != 3*o.Size*o.Size {
		t.Errorf("PrepareFile and PrepareImage differ (%d and %d values, want %d)", len(fromFile), len(fromBytes), 3*o.Size*o.Size)
	}
	if _, err := m.EmbedImageList(t.Context(), [][]float32{fromFile, fromFile[:3]}); !errors.Is(err, model.ErrImageBatch) {
		t.Errorf("mixed sizes: %v, want ErrImageBatch", err)
	}
	iv, err := m.EmbedImages(t.Context(), fromFile, 1)
	if err != nil || len(iv) != 1 || len(iv[0]) != m.Dim() {
		t.Fatalf("EmbedImages: %v", err)
	}
	if err := errors.Join(m.Close(), m.Close()); err != nil {
		t.Errorf("Close twice: %v", err)
	}
}

// TestModelNoTokenizer: a folder without a tokenizer opens for images and
// raw ids; texts are ErrNoTokenizer.
func TestModelNoTokenizer(t *testing.T) {
	m, err := model.Open(t.Context(), tinyModel(t, true), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	if m.HasTokenizer() {
		t.Fatal("HasTokenizer = true for a folder without one")
	}
	if _, err := m.EmbedTexts(t.Context(), []string{"a red circle"}); !errors.Is(err, model.ErrNoTokenizer) {
		t.Errorf("EmbedTexts: %v, want ErrNoTokenizer", err)
	}
}
