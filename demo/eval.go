package demo

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"imglish/demo/scene"
	"imglish/encoder/preprocess"
	"imglish/model"
)

// ZeroShotFirst is the first scene index of the single-object zero-shot set
// (the retrieval set starts at 0), the same one tools/train/train.py evaluates.
const ZeroShotFirst = 1_000_000

// EvalOptions configure Evaluate. The zero value measures 1,000 multi-object
// and 1,000 single-object scenes of the test split, seed 1, rendered at 128 px.
type EvalOptions struct {
	Seed        uint64
	Scenes      int // per set; 0 means 1000
	RenderSize  int // 0 means 128 (what `imglish demo scenes` writes)
	Concurrency int // render/preprocess workers; 0 means 2
}

// Report holds the figures in percent (BEiT-3 protocol, spec §2.4: TR = image
// to text, IR = text to image; one canonical caption per image).
type Report struct {
	Scenes         int     `json:"scenes"`
	TR1            float64 `json:"tr@1"`
	TR5            float64 `json:"tr@5"`
	TR10           float64 `json:"tr@10"`
	IR1            float64 `json:"ir@1"`
	IR5            float64 `json:"ir@5"`
	IR10           float64 `json:"ir@10"`
	ZeroShotScenes int     `json:"zero_shot_scenes"`
	// ZeroShotAcc is top-1 accuracy over the 48 prompts "a <colour> <shape>".
	ZeroShotAcc float64 `json:"zero_shot_acc"`
}

// Evaluate measures a converted demo model through the product path: scenes of
// the held-out test split are rendered, then resized, normalised and embedded
// by m (the same model.Model every other door uses), captions and prompts are
// tokenized and embedded by m within its text window, and every query is
// ranked against every candidate by cosine. It checks ctx between batches.
func Evaluate(ctx context.Context, m *model.Model, opts EvalOptions) (Report, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Report{}, err
	}
	rep, err := evalRetrieval(ctx, m, opts)
	if err != nil {
		return rep, err
	}
	z, err := embedZeroShot(ctx, m, opts)
	if err != nil {
		return rep, err
	}
	rep.ZeroShotScenes = len(z.vecs)
	rep.ZeroShotAcc, err = z.accuracy(ctx, m, nil)
	return rep, err
}

// evalRetrieval fills the R@k figures from opts.Scenes multi-object test scenes.
func evalRetrieval(ctx context.Context, m *model.Model, opts EvalOptions) (Report, error) {
	rep := Report{Scenes: opts.Scenes}
	multi, err := scene.New(scene.Options{Seed: opts.Seed, Split: scene.Test, MinObjects: 2})
	if err != nil {
		return rep, err
	}
	scenes := make([]scene.Scene, opts.Scenes)
	captions := make([]string, opts.Scenes)
	for i := range scenes {
		scenes[i] = multi.Scene(i)
		captions[i] = scenes[i].Caption()
	}
	iv, err := embedScenes(ctx, m, scenes, opts)
	if err != nil {
		return rep, err
	}
	tv, err := embedTexts(ctx, m, captions)
	if err != nil {
		return rep, err
	}
	rep.TR1, rep.TR5, rep.TR10, rep.IR1, rep.IR5, rep.IR10 = recall(iv, tv)
	return rep, nil
}

func (opts EvalOptions) withDefaults() (EvalOptions, error) {
	if opts.Scenes == 0 {
		opts.Scenes = 1000
	}
	if opts.RenderSize == 0 {
		opts.RenderSize = 128
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 2
	}
	if opts.Scenes < 10 || opts.RenderSize < 8 || opts.Concurrency < 0 {
		return opts, fmt.Errorf("evaluate: %d scenes at %d px: %w", opts.Scenes, opts.RenderSize, ErrOptions)
	}
	return opts, nil
}

// zeroShotSet is the embedded single-object test set of zero-shot accuracy.
type zeroShotSet struct {
	classes []Class
	vecs    [][]float32
}

// embedZeroShot embeds opts.Scenes single-object test scenes.
func embedZeroShot(ctx context.Context, m *model.Model, opts EvalOptions) (zeroShotSet, error) {
	single, err := scene.New(scene.Options{Seed: opts.Seed, Split: scene.Test, MaxObjects: 1})
	if err != nil {
		return zeroShotSet{}, err
	}
	scenes := make([]scene.Scene, opts.Scenes)
	z := zeroShotSet{classes: make([]Class, opts.Scenes)}
	for i := range scenes {
		scenes[i] = single.Scene(ZeroShotFirst + i)
		z.classes[i] = Class{scenes[i].Objects[0].Colour, scenes[i].Objects[0].Shape}
	}
	z.vecs, err = embedScenes(ctx, m, scenes, opts)
	return z, err
}

// accuracy classifies the set among the 48 colour×shape prompts worded by
// format (nil: ZeroShotPrompts) and returns the top-1 accuracy in percent.
func (z zeroShotSet) accuracy(ctx context.Context, m *model.Model, format func(Class) string) (float64, error) {
	prompts, classes := ZeroShotPrompts()
	if format != nil {
		for i, c := range classes {
			prompts[i] = format(c)
		}
	}
	pv, err := embedTexts(ctx, m, prompts)
	if err != nil {
		return 0, err
	}
	hits := 0
	for i, v := range z.vecs {
		best, bestScore := 0, float32(-2)
		for j, p := range pv {
			if s := dot(v, p); s > bestScore {
				best, bestScore = j, s
			}
		}
		if classes[best] == z.classes[i] {
			hits++
		}
	}
	return pct(hits, len(z.vecs)), nil
}

// Class is one zero-shot class: a colour and a shape.
type Class struct {
	Colour scene.Colour
	Shape  scene.Shape
}

// ZeroShotPrompts returns the 48 prompts "a red circle" … "a black cross" and
// their classes, in the same order.
func ZeroShotPrompts() ([]string, []Class) {
	var prompts []string
	var classes []Class
	for _, c := range scene.ObjectColours() {
		for _, s := range scene.Shapes() {
			art := "a"
			if c == scene.Orange {
				art = "an"
			}
			prompts = append(prompts, art+" "+c.String()+" "+s.String())
			classes = append(classes, Class{c, s})
		}
	}
	return prompts, classes
}

// embedScenes renders each scene and runs its pixels through the model's
// resizer and normaliser (model.Model.PrepareRGB, what PrepareFile does after
// decoding; the scenes are opaque RGB, so a lossless PNG round trip would
// change nothing but the run time), then the vision model, in batches.
func embedScenes(ctx context.Context, m *model.Model, scenes []scene.Scene, opts EvalOptions) ([][]float32, error) {
	size := m.ImageSize()
	const batch = 100
	var out [][]float32
	for start := 0; start < len(scenes); start += batch {
		part := scenes[start:min(start+batch, len(scenes))]
		pixels := make([]float32, len(part)*3*size*size)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(opts.Concurrency)
		for k, s := range part {
			g.Go(func() error {
				img, err := s.Render(opts.RenderSize)
				if err != nil {
					return err
				}
				if err := gctx.Err(); err != nil {
					return err
				}
				rgb := preprocess.NewRGB(opts.RenderSize, opts.RenderSize)
				for i := range opts.RenderSize * opts.RenderSize {
					copy(rgb.Pix[3*i:3*i+3], img.Pix[4*i:4*i+3]) // Render's RGBA has no padding and alpha 255
				}
				m.PrepareRGB(rgb, pixels[k*3*size*size:(k+1)*3*size*size])
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		vs, err := m.EmbedImages(ctx, pixels, len(part))
		if err != nil {
			return nil, fmt.Errorf("embed scenes: %w", err)
		}
		out = append(out, vs...)
	}
	return out, nil
}

// embedTexts embeds captions or prompts as one batch through m.EmbedTexts,
// the text door every other caller uses.
func embedTexts(ctx context.Context, m *model.Model, texts []string) ([][]float32, error) {
	vs, err := m.EmbedTexts(ctx, texts)
	if err != nil {
		return nil, fmt.Errorf("embed captions: %w", err)
	}
	return vs, nil
}

// recall computes R@1/5/10 both ways for one caption per image (text i
// describes image i), ranking by dot product of unit vectors.
func recall(iv, tv [][]float32) (tr1, tr5, tr10, ir1, ir5, ir10 float64) {
	n := len(iv)
	scores := make([][]float32, n)
	for i := range iv {
		scores[i] = make([]float32, n)
		for j := range tv {
			scores[i][j] = dot(iv[i], tv[j])
		}
	}
	// rank of the true match among n candidates (0 = first); ties count against it.
	var trHits, irHits [3]int
	ks := [3]int{1, 5, 10}
	col := make([]float32, n)
	for i := range n {
		rt := rank(scores[i], i)
		for j := range n {
			col[j] = scores[j][i]
		}
		ri := rank(col, i)
		for k, kk := range ks {
			if rt < kk {
				trHits[k]++
			}
			if ri < kk {
				irHits[k]++
			}
		}
	}
	return pct(trHits[0], n), pct(trHits[1], n), pct(trHits[2], n), pct(irHits[0], n), pct(irHits[1], n), pct(irHits[2], n)
}

// rank counts the candidates scoring at least as high as the true one, itself excluded.
func rank(row []float32, truth int) int {
	r := 0
	for j, s := range row {
		if j != truth && s >= row[truth] {
			r++
		}
	}
	return r
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func pct(a, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(int(10000*float64(a)/float64(n)+0.5)) / 100
}
