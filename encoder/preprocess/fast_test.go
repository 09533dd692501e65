package preprocess

import (
	"bytes"
	"encoding/json"
	"image"
	"os"
	"testing"
)

type fastManifest struct {
	Fast []struct {
		File, What   string
		Size, Scale  int
		Exact, Draft string
	}
	Draft []struct {
		File   string
		Scale  int
		Golden string
	}
}

func loadFastManifest(t *testing.T) fastManifest {
	t.Helper()
	b, err := os.ReadFile(fixture(t, "fast_manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m fastManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFastPathParity: the default (DCT-scaled) JPEG path gives exactly
// Pillow's draft('RGB', (S, S)) + resize, Options.Exact gives exactly the
// official pipeline (open + convert + resize), and the two differ from each
// other by a bounded amount. Goldens: tools/preprocess/make_draft_goldens.py.
func TestFastPathParity(t *testing.T) { resizePaths(t, testFastPathParity) }

func testFastPathParity(t *testing.T) {
	m := loadFastManifest(t)
	if len(m.Fast) != 13 {
		t.Fatalf("fast_manifest.json has %d cases, want 13", len(m.Fast))
	}
	scales := map[int]bool{}
	for _, c := range m.Fast {
		t.Run(c.Exact, func(t *testing.T) {
			data := mustRead(t, fixture(t, c.File))
			fast, info, err := Resized(t.Context(), bytes.NewReader(data), Options{Size: c.Size})
			if err != nil {
				t.Fatal(err)
			}
			if s := draftScale(info.StoredWidth, info.StoredHeight, c.Size); s != c.Scale {
				t.Fatalf("%s at %d: draft scale %d, Pillow chose %d", c.File, c.Size, s, c.Scale)
			}
			scales[c.Scale] = true
			exact, _, err := Resized(t.Context(), bytes.NewReader(data), Options{Size: c.Size, Exact: true})
			if err != nil {
				t.Fatal(err)
			}
			wantDraft := readPNGRGB(t, fixture(t, c.Draft))
			wantExact := readPNGRGB(t, fixture(t, c.Exact))
			if !bytes.Equal(fast.Pix, wantDraft.Pix) {
				p, g, w := firstDiff(fast, wantDraft)
				maxd, mean := diffStats(fast, wantDraft)
				t.Errorf("%s (%s) at %d: fast path is not Pillow's draft+resize: first diff at %v got %v want %v; max %d mean %.4f",
					c.File, c.What, c.Size, p, g, w, maxd, mean)
			}
			if !bytes.Equal(exact.Pix, wantExact.Pix) {
				p, g, w := firstDiff(exact, wantExact)
				t.Errorf("%s (%s) at %d: Exact is not Pillow's full decode+resize: first diff at %v got %v want %v",
					c.File, c.What, c.Size, p, g, w)
			}
			// What the fast path costs in fidelity to the official
			// pipeline: measured on these fixtures mean 0.32–2.01, max
			// 8–54 levels (the 3-pixel stripes alias differently after a
			// DCT-domain shrink: the worst cases are the fixtures where
			// they fill most of the frame); over the scaled photos of
			// ../shared/data mean 1.00 (TestPhotoParity). The bounds leave
			// some room but fail a broken path: a wrong scale, chroma
			// placement or orientation gives tens of levels on average.
			maxd, mean := diffStats(fast, wantExact)
			t.Logf("%s at %d (1/%d): fast vs Pillow exact: max %d mean %.3f", c.File, c.Size, c.Scale, maxd, mean)
			if mean > 3 || maxd > 96 {
				t.Errorf("%s at %d: fast path drifted from the official pipeline: max %d mean %.3f", c.File, c.Size, maxd, mean)
			}
		})
	}
	for _, s := range []int{2, 4, 8} {
		if !scales[s] {
			t.Errorf("no case decodes at 1/%d", s)
		}
	}
}

// TestDraftDecode: the scaled decoder alone (before any resize) equals
// libjpeg's scaled decode as Pillow's draft gives it, at 1/2, 1/4, 1/8
// (and 1/1 for the cjpeg-made 4:4:0 and 4:1:1), for each chroma
// subsampling at odd sizes.
func TestDraftDecode(t *testing.T) {
	m := loadFastManifest(t)
	if len(m.Draft) != 20 {
		t.Fatalf("fast_manifest.json has %d draft cases, want 20", len(m.Draft))
	}
	for _, c := range m.Draft {
		t.Run(c.Golden, func(t *testing.T) {
			h, err := probe(mustRead(t, fixture(t, c.File)), Options{}.withDefaults())
			if err != nil {
				t.Fatal(err)
			}
			img, fancy, err := decodeScaled(h, c.Scale)
			if err != nil {
				t.Fatal(err)
			}
			got := scaledRGB(t, img, fancy)
			want := readPNGRGB(t, fixture(t, c.Golden))
			if got.Width != want.Width || got.Height != want.Height || !bytes.Equal(got.Pix, want.Pix) {
				maxd, mean := diffStats(got, want)
				t.Fatalf("%s at 1/%d: %dx%d vs Pillow %dx%d, max %d mean %.4f", c.File, c.Scale,
					got.Width, got.Height, want.Width, want.Height, maxd, mean)
			}
		})
	}
}

// scaledRGB converts decodeScaled's result as resizedBytes does.
func scaledRGB(t *testing.T, img image.Image, fancy bool) *RGB {
	t.Helper()
	yc, ok := img.(*image.YCbCr)
	if !ok {
		rgb, err := toRGB(img, convertOpts{})
		if err != nil {
			t.Fatal(err)
		}
		return rgb
	}
	w, h := yc.Rect.Dx(), yc.Rect.Dy()
	rgb := NewRGB(w, h)
	rc := newYCbCrRows(yc, w, h, fancy)
	for y := 0; y < h; y++ {
		rc.row(y, rgb.Pix[3*w*y:3*w*(y+1)])
	}
	return rgb
}
