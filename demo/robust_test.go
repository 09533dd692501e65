package demo

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"testing"

	"golang.org/x/image/draw"

	"imglish/demo/scene"
)

// robustScenes is how many single-object test scenes each variant classifies.
const robustScenes = 300

// TestDemoModelRobust checks that zero-shot classification survives what
// users' files do to an image, the augmentations the demo model was trained
// with: JPEG re-encoding, rescaling and a small crop. Each variant is written
// as a file (JPEG or PNG bytes) and decoded by the product's preprocess.Reader,
// as indexed files are. Levels: measured accuracy minus 3 points.
//
// Measured on 300 scenes: PNG 128 px 96.3%, JPEG q40 128 px 97.7%, JPEG q75
// 400 px 96.3%, PNG 56 px 96.3%, 5% cut from each side 97.3%, resized to
// 150×120 96.7%.
func TestDemoModelRobust(t *testing.T) {
	mod := openDemo(t)
	ctx := t.Context()
	gen, err := scene.New(scene.Options{Seed: 1, Split: scene.Test, MaxObjects: 1})
	if err != nil {
		t.Fatal(err)
	}
	type variant struct {
		name   string
		render int
		crop   float64 // fraction cut from each side
		w, h   int     // non-zero: the render resized to w×h (aspect change)
		jpegQ  int     // 0: PNG
		min    float64
	}
	variants := []variant{
		{"png-128", 128, 0, 0, 0, 0, 93.3},
		{"jpeg-q40-128", 128, 0, 0, 0, 40, 94.7},
		{"jpeg-q75-400", 400, 0, 0, 0, 75, 93.3},
		{"png-56", 56, 0, 0, 0, 0, 93.3},
		{"crop5-png-128", 128, 0.05, 0, 0, 0, 94.3},
		{"aspect-150x120-png", 128, 0, 150, 120, 0, 93.7},
	}
	size := mod.ImageSize()
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			z := zeroShotSet{classes: make([]Class, robustScenes)}
			pixels := make([]float32, 0, robustScenes*3*size*size)
			for i := range robustScenes {
				s := gen.Scene(ZeroShotFirst + i)
				z.classes[i] = Class{s.Objects[0].Colour, s.Objects[0].Shape}
				img, err := s.Render(v.render)
				if err != nil {
					t.Fatal(err)
				}
				var src image.Image = img
				if v.crop > 0 {
					c := int(v.crop * float64(v.render))
					src = img.SubImage(image.Rect(c, c, v.render-c, v.render-c))
				}
				if v.w > 0 {
					dst := image.NewRGBA(image.Rect(0, 0, v.w, v.h))
					draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
					src = dst
				}
				var buf bytes.Buffer
				if v.jpegQ > 0 {
					err = jpeg.Encode(&buf, src, &jpeg.Options{Quality: v.jpegQ})
				} else {
					err = png.Encode(&buf, src)
				}
				if err != nil {
					t.Fatal(err)
				}
				tensor, err := mod.PrepareImage(ctx, buf.Bytes(), 0)
				if err != nil {
					t.Fatalf("scene %d: preprocess: %v", i, err)
				}
				pixels = append(pixels, tensor...)
			}
			for start := 0; start < robustScenes; start += 100 {
				n := min(100, robustScenes-start)
				vs, err := mod.EmbedImages(ctx, pixels[start*3*size*size:(start+n)*3*size*size], n)
				if err != nil {
					t.Fatal(err)
				}
				z.vecs = append(z.vecs, vs...)
			}
			acc, err := z.accuracy(ctx, mod, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: zero-shot %.1f%% on %d scenes", v.name, acc, robustScenes)
			if acc < v.min {
				t.Errorf("%s: zero-shot %.1f%%, want ≥ %.1f%%", v.name, acc, v.min)
			}
		})
	}
}
