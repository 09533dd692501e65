package demo

import (
	"errors"
	"os"
	"testing"

	"imglish/encoder/convert"
	"imglish/model"
)

// Committed demo model (see testdata/models/demo/README.md).
const (
	demoCheckpoint = "../testdata/models/demo/demo.pth"
	demoTokenizer  = "../testdata/models/demo/demo.model"
)

// Levels the committed checkpoint reached in Go (imglish demo eval, 1,000
// scenes per set, test split, seed 1), minus a margin of 3 points: ORT's
// float32 kernels and thread counts move a few near-tied ranks, never more
// than a point in our runs. A failure means the model, the converter, the
// tokenizer, the preprocessing or the generator changed behaviour.
//
// Measured (Go, go test -race and imglish demo eval alike): TR@1/5/10
// 64.1/95.5/99.0, IR@1/5/10 65.6/97.3/99.2, zero-shot 97.1% (issue target:
// R@5 ≥ 60 both ways, zero-shot ≥ 90%).
var minimum = Report{
	TR1: 61.1, TR5: 92.5, TR10: 96.0,
	IR1: 62.6, IR5: 94.3, IR10: 96.2,
	ZeroShotAcc: 94.1,
}

// openDemo converts the committed checkpoint with the product's converter and
// opens it with ONNX Runtime.
func openDemo(t *testing.T) *model.Model {
	t.Helper()
	if _, err := os.Stat(demoCheckpoint); err != nil {
		t.Fatalf("demo checkpoint: %v", err)
	}
	dir := t.TempDir()
	if _, err := convert.Convert(t.Context(), convert.Options{Checkpoint: demoCheckpoint, OutDir: dir, Tokenizer: demoTokenizer}); err != nil {
		t.Fatalf("convert: %v", err)
	}
	m, err := model.Open(t.Context(), dir, model.Options{})
	if err != nil {
		t.Fatalf("open model: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// TestDemoModelQuality is the acceptance test: 1,000 held-out
// multi-object scenes (test split, never trained on) for R@k both ways and
// 1,000 single-object scenes for zero-shot colour×shape accuracy, through
// generate → preprocess → converted ONNX → ranking. It also checks wordings
// users type besides the canonical "a red circle" on the same images.
func TestDemoModelQuality(t *testing.T) {
	m := openDemo(t)
	ctx := t.Context()
	opts, err := EvalOptions{Seed: 1}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := evalRetrieval(ctx, m, opts)
	if err != nil {
		t.Fatalf("retrieval: %v", err)
	}
	z, err := embedZeroShot(ctx, m, opts)
	if err != nil {
		t.Fatalf("zero-shot images: %v", err)
	}
	if rep.ZeroShotAcc, err = z.accuracy(ctx, m, nil); err != nil {
		t.Fatalf("zero-shot: %v", err)
	}
	t.Logf("demo model on %d held-out scenes per set: TR@1/5/10 %.1f/%.1f/%.1f IR@1/5/10 %.1f/%.1f/%.1f zero-shot %.1f%%",
		rep.Scenes, rep.TR1, rep.TR5, rep.TR10, rep.IR1, rep.IR5, rep.IR10, rep.ZeroShotAcc)
	checks := []struct {
		name      string
		got, want float64
	}{
		{"TR@1", rep.TR1, minimum.TR1}, {"TR@5", rep.TR5, minimum.TR5}, {"TR@10", rep.TR10, minimum.TR10},
		{"IR@1", rep.IR1, minimum.IR1}, {"IR@5", rep.IR5, minimum.IR5}, {"IR@10", rep.IR10, minimum.IR10},
		{"zero-shot accuracy", rep.ZeroShotAcc, minimum.ZeroShotAcc},
	}
	for _, c := range checks {
		if c.got < c.want {
			t.Errorf("%s = %.2f%%, want ≥ %.2f%%", c.name, c.got, c.want)
		}
	}

	wordings := []struct {
		name   string
		format func(c Class) string
		want   float64
	}{
		{"capitalised", func(c Class) string { return "A " + c.Colour.String() + " " + c.Shape.String() }, minWording},
		{"one", func(c Class) string { return "one " + c.Colour.String() + " " + c.Shape.String() }, minWording},
	}
	for _, w := range wordings {
		acc, err := z.accuracy(ctx, m, w.format)
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		t.Logf("wording %s (%q): zero-shot %.1f%%", w.name, w.format(Class{}), acc)
		if acc < w.want {
			t.Errorf("wording %s: zero-shot %.1f%%, want ≥ %.1f%%", w.name, acc, w.want)
		}
	}
	if _, err := Evaluate(ctx, m, EvalOptions{Scenes: 5}); !errors.Is(err, ErrOptions) {
		t.Fatalf("Evaluate with 5 scenes: %v, want ErrOptions", err)
	}
}

// minWording is the zero-shot accuracy other wordings must reach: measured
// 97.1% ("A red circle") and 97.1% ("one red circle"), minus 3 points.
const minWording = 94
