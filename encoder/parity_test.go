package encoder

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"imglish/encoder/convert"
)

// convertFixture converts a reference checkpoint into a fresh folder.
func convertFixture(t testing.TB, ckpt string, size int, prec string, external int64) string {
	t.Helper()
	g := loadGoldens(t)
	c, ok := g.Checkpoints[ckpt]
	if !ok {
		t.Fatalf("checkpoint %s not in goldens.json", ckpt)
	}
	dir := t.TempDir()
	_, err := convert.Convert(context.Background(), convert.Options{
		Checkpoint: filepath.Join(refDir(t), c.File), OutDir: dir, ImageSize: size,
		Heads: c.Config.Heads, Precision: prec, ExternalDataBytes: external,
	})
	if err != nil {
		t.Fatalf("convert %s: %v", ckpt, err)
	}
	return dir
}

func openTest(t testing.TB, dir string) *Encoder {
	t.Helper()
	e, err := Open(context.Background(), dir, Options{Threads: 2})
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return e
}

// worst tracks the largest deviation seen, for the log.
type worst struct{ cos, abs float64 }

func (w *worst) check(t *testing.T, what string, got, want []float32, minCos, maxAbs float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d components, want %d", what, len(got), len(want))
	}
	cos, abs := compare(got, want)
	if w.cos == 0 || cos < w.cos {
		w.cos = cos
	}
	w.abs = max(w.abs, abs)
	if cos < minCos || abs > maxAbs {
		t.Errorf("%s: cosine %.8f (min %v), max |Δ| %.3g (max %v)", what, cos, minCos, abs, maxAbs)
	}
}

// embedGoldens runs every image and text golden of (ckpt, size) through e,
// batched (mixed lengths in one call) and one at a time.
func embedGoldens(t *testing.T, g *goldens, e *Encoder, ckpt string, size int, minCos, maxAbs float64) worst {
	ctx := t.Context()
	var w worst
	images := g.select_(ckpt, size, "image")
	texts := g.select_(ckpt, size, "text")
	if len(images) == 0 {
		t.Fatalf("no image goldens for %s@%d", ckpt, size)
	}
	var pixels []float32
	for _, x := range images {
		file := g.Images[x.Image].File
		if !filepath.IsAbs(file) {
			file = filepath.Join(refDir(t), file)
		}
		pixels = append(pixels, readF32(t, file)...)
	}
	per := len(pixels) / len(images)
	batched, err := e.EmbedImages(ctx, pixels, len(images))
	if err != nil {
		t.Fatalf("embed images: %v", err)
	}
	for i, x := range images {
		w.check(t, "image "+x.Image+" batched", batched[i], x.Embedding, minCos, maxAbs)
		one, err := e.EmbedImages(ctx, pixels[i*per:(i+1)*per], 1)
		if err != nil {
			t.Fatalf("embed image: %v", err)
		}
		w.check(t, "image "+x.Image+" alone", one[0], x.Embedding, minCos, maxAbs)
	}

	var plain, padded []golden
	for _, x := range texts {
		if x.PaddingMask == nil {
			plain = append(plain, x)
		} else {
			padded = append(padded, x)
		}
	}
	if len(texts) > 0 && (len(plain) == 0 || len(padded) == 0) {
		t.Fatalf("%s@%d: want padded and unpadded text goldens", ckpt, size)
	}
	var ids [][]int64
	for _, x := range plain {
		ids = append(ids, x.IDs)
	}
	if len(plain) > 0 {
		got, err := e.EmbedTexts(ctx, ids)
		if err != nil {
			t.Fatalf("embed texts: %v", err)
		}
		for i, x := range plain {
			w.check(t, "text "+x.Text+" batched", got[i], x.Embedding, minCos, maxAbs)
			one, err := e.EmbedTexts(ctx, ids[i:i+1])
			if err != nil {
				t.Fatalf("embed text: %v", err)
			}
			w.check(t, "text "+x.Text+" alone", one[0], x.Embedding, minCos, maxAbs)
		}
	}
	// The golden padded inputs as given (64 ids, mask 1 = pad), straight into
	// the graph: checks the key mask and the zeroed padded rows.
	if len(padded) > 0 {
		n, tl := len(padded), len(padded[0].IDs)
		var flatIDs, flatMask []int64
		for _, x := range padded {
			flatIDs = append(flatIDs, x.IDs...)
			flatMask = append(flatMask, x.PaddingMask...)
		}
		got, err := e.runTextMasked(ctx, flatIDs, flatMask, n, tl)
		if err != nil {
			t.Fatalf("embed padded texts: %v", err)
		}
		for i, x := range padded {
			w.check(t, "text "+x.Text+" batched", got[i], x.Embedding, minCos, maxAbs)
		}
		one, err := e.runTextMasked(ctx, padded[0].IDs, padded[0].PaddingMask, 1, tl)
		if err != nil {
			t.Fatalf("embed padded text: %v", err)
		}
		w.check(t, "text "+padded[0].Text+" alone", one[0], padded[0].Embedding, minCos, maxAbs)
	}
	return w
}

func TestParityWithReference(t *testing.T) {
	tests := []struct {
		name string
		ckpt string
		size int
	}{
		{"fp32 tensors under model", "tiny", 32},
		{"fp16 tensors under module", "tiny_module_fp16", 32},
		{"bf16 tensors bare state_dict", "tiny_bare_bf16", 32},
		{"junk entries", "tiny_junk", 32},
		{"positions resized 32 to 48", "tiny", 48},
		{"224 checkpoint at 224", "tiny224", 224},
		{"224 checkpoint resized to 384", "tiny224", 384},
		{"base-shaped 384", "base_shaped", 384},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := openTest(t, convertFixture(t, tc.ckpt, tc.size, convert.PrecisionFP32, 0))
			w := embedGoldens(t, loadGoldens(t), e, tc.ckpt, tc.size, parityCos, parityMaxAbs)
			t.Logf("%s@%d: min cosine %.9f, max |Δ| %.3g", tc.ckpt, tc.size, w.cos, w.abs)
		})
	}
}

// TestParityExternalData forces ONNX external data (used above 1800 MiB) on a
// tiny model: same vectors, and the .data files are listed in model.json.
func TestParityExternalData(t *testing.T) {
	dir := convertFixture(t, "tiny", 32, convert.PrecisionFP32, 1)
	e := openTest(t, dir)
	for _, f := range []string{"vision.onnx.data", "text.onnx.data"} {
		if _, ok := e.Manifest().Files[f]; !ok {
			t.Errorf("model.json does not list %s", f)
		}
	}
	if err := e.Manifest().Verify(dir); err != nil {
		t.Fatalf("verify: %v", err)
	}
	embedGoldens(t, loadGoldens(t), e, "tiny", 32, parityCos, parityMaxAbs)
}

// TestParityFP16 converts with fp16 weights and compute: the vectors stay
// within cosine 0.999 of the float64 goldens (fp16 has an 11-bit mantissa).
func TestParityFP16(t *testing.T) {
	e := openTest(t, convertFixture(t, "base_shaped", 0, convert.PrecisionFP16, 0))
	if p := e.Manifest().Precision; p != convert.PrecisionFP16 {
		t.Fatalf("precision %q", p)
	}
	w := embedGoldens(t, loadGoldens(t), e, "base_shaped", 384, 0.999, 1)
	t.Logf("fp16 base_shaped: min cosine %.9f, max |Δ| %.3g", w.cos, w.abs)
}

// TestParityFullSize checks a full-size checkpoint (e.g. tools/reference's
// make_checkpoint.py --size base) against goldens from
// tools/reference/make_goldens.py. Those files are large and never committed,
// so the test runs only when IMGLISH_FULL_GOLDENS names the goldens file;
// IMGLISH_FULL_MODEL may name an already converted folder.
func TestParityFullSize(t *testing.T) {
	path := os.Getenv("IMGLISH_FULL_GOLDENS")
	if path == "" {
		t.Skip("IMGLISH_FULL_GOLDENS not set (full-size goldens are generated on demand, never committed)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g goldens
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	for name, c := range g.Checkpoints {
		size := g.Goldens[0].ImageSize
		dir := os.Getenv("IMGLISH_FULL_MODEL")
		if dir == "" {
			dir = t.TempDir()
			if _, err := convert.Convert(t.Context(), convert.Options{Checkpoint: c.File, OutDir: dir, ImageSize: size, Heads: c.Config.Heads}); err != nil {
				t.Fatal(err)
			}
		}
		e := openTest(t, dir)
		w := embedGoldens(t, &g, e, name, size, parityCos, parityMaxAbs)
		t.Logf("%s@%d: min cosine %.9f, max |Δ| %.3g", name, size, w.cos, w.abs)
	}
}
