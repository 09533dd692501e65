package encoder

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"imglish/encoder/convert"
)

// TestParityInt8 converts the base-shaped fixture with int8 linear layers:
// every golden image and text (batched, alone, padded) stays within cosine
// 0.99 of the float64 goldens, and — because int8 graphs run one item per
// ORT run — a vector does not depend on its batch mates.
func TestParityInt8(t *testing.T) {
	e := openTest(t, convertFixture(t, "base_shaped", 0, convert.PrecisionInt8, 0))
	if p := e.Manifest().Precision; p != convert.PrecisionInt8 {
		t.Fatalf("precision %q", p)
	}
	g := loadGoldens(t)
	w := embedGoldens(t, g, e, "base_shaped", 384, 0.99, 2)
	t.Logf("int8 base_shaped: min cosine %.6f, max |Δ| %.3g", w.cos, w.abs)

	images := g.select_("base_shaped", 384, "image")
	var pixels []float32
	for _, x := range images {
		pixels = append(pixels, readF32(t, filepath.Join(refDir(t), g.Images[x.Image].File))...)
	}
	per := len(pixels) / len(images)
	batched, err := e.EmbedImages(t.Context(), pixels, len(images))
	if err != nil {
		t.Fatal(err)
	}
	for i := range images {
		one, err := e.EmbedImages(t.Context(), pixels[i*per:(i+1)*per], 1)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(one[0], batched[i]) {
			t.Errorf("image %d: batched vector differs from the vector alone", i)
		}
	}
}

// TestParityUnfused converts with attention in standard ops only (no
// com.microsoft MultiHeadAttention): same vectors as the fused default.
func TestParityUnfused(t *testing.T) {
	dir := t.TempDir()
	c := loadGoldens(t).Checkpoints["base_shaped"]
	if _, err := convert.Convert(context.Background(), convert.Options{
		Checkpoint: filepath.Join(refDir(t), c.File), OutDir: dir, Heads: c.Config.Heads, Unfused: true,
	}); err != nil {
		t.Fatal(err)
	}
	w := embedGoldens(t, loadGoldens(t), openTest(t, dir), "base_shaped", 384, parityCos, parityMaxAbs)
	t.Logf("unfused base_shaped: min cosine %.9f, max |Δ| %.3g", w.cos, w.abs)
}
