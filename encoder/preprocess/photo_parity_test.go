package preprocess

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPhotoParity reports how far Go's JPEG path lands from Pillow's over
// ../shared/data/photos. It needs Pillow's outputs, made by
// tools/preprocess/photo_parity.py into $IMGLISH_PILLOW_DIR (the size is
// read from the files), and skips without them. JPEG decoders differ (IDCT
// rounding), so the bound is loose; the point is the printed figures.
func TestPhotoParity(t *testing.T) {
	dir := os.Getenv("IMGLISH_PILLOW_DIR")
	if dir == "" {
		t.Skip("skipping: set IMGLISH_PILLOW_DIR to the output of tools/preprocess/photo_parity.py")
	}
	photos := filepath.Join(sharedData(t), "photos")
	var n, worstMax int
	var sumMean, worstMean float64
	var worst string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || !strings.HasSuffix(p, ".rgb") {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		want, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		side := 1
		for side*side*3 < len(want) {
			side++
		}
		img, _, err := decodeFile(t, filepath.Join(photos, strings.TrimSuffix(rel, ".rgb")), Options{IgnoreOrientation: true})
		if err != nil {
			t.Logf("%s: Pillow decodes it, Go does not: %v", rel, err)
			return nil
		}
		got := Resize(img, side, side)
		maxd, mean := diffStats(got, &RGB{Width: side, Height: side, Pix: want})
		n++
		sumMean += mean
		worstMax = max(worstMax, maxd)
		if mean > worstMean {
			worstMean, worst = mean, rel
		}
		if testing.Verbose() {
			t.Logf("%-70s max %3d mean %.3f", rel, maxd, mean)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no Pillow outputs found")
	}
	t.Logf("JPEG vs Pillow over %d photos: mean |diff| %.4f levels, worst photo mean %.3f (%s), max single diff %d",
		n, sumMean/float64(n), worstMean, worst, worstMax)
	// Measured: mean 0.038, worst photo 0.069, max 4 (Go's own YCbCr.At path: 0.57, 2.5, 77).
	if sumMean/float64(n) > 0.2 || worstMean > 0.5 {
		t.Fatalf("JPEG path drifted from Pillow: mean %.3f, worst %.3f", sumMean/float64(n), worstMean)
	}
}
