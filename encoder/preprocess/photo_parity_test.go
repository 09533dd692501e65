package preprocess

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPhotoParity compares Go's JPEG paths with Pillow's over
// ../shared/data/photos. It needs Pillow's outputs, made by
// tools/preprocess/photo_parity.py into $IMGLISH_PILLOW_DIR (the size is
// read from the files), and skips without them. Three comparisons per photo
// (no EXIF orientation, as BEiT-3's loader):
//   - Decode + Resize (the Exact path) against the official pipeline;
//   - the default DCT-scaled path against Pillow's draft + resize;
//   - the default path against the official pipeline: what the speed costs.
func TestPhotoParity(t *testing.T) {
	dir := os.Getenv("IMGLISH_PILLOW_DIR")
	if dir == "" {
		t.Skip("skipping: set IMGLISH_PILLOW_DIR to the output of tools/preprocess/photo_parity.py")
	}
	photos := filepath.Join(sharedData(t), "photos")
	type tally struct {
		n, maxd, exactN int
		sum, worst      float64
		worstName       string
	}
	var exact, draft, fast, scaled tally
	add := func(tl *tally, rel string, got, want *RGB) {
		maxd, mean := diffStats(got, want)
		tl.n++
		tl.sum += mean
		tl.maxd = max(tl.maxd, maxd)
		if maxd == 0 {
			tl.exactN++
		}
		if mean > tl.worst {
			tl.worst, tl.worstName = mean, rel
		}
	}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || !strings.HasSuffix(p, ".rgb") || strings.HasSuffix(p, ".draft.rgb") {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = strings.TrimSuffix(rel, ".rgb")
		want, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		wantDraft, err := os.ReadFile(strings.TrimSuffix(p, ".rgb") + ".draft.rgb")
		if err != nil {
			return err
		}
		side := 1
		for side*side*3 < len(want) {
			side++
		}
		src := filepath.Join(photos, rel)
		img, _, err := decodeFile(t, src, Options{IgnoreOrientation: true})
		if err != nil {
			t.Logf("%s: Pillow decodes it, Go does not: %v", rel, err)
			return nil
		}
		ref := &RGB{Width: side, Height: side, Pix: want}
		refDraft := &RGB{Width: side, Height: side, Pix: wantDraft}
		add(&exact, rel, Resize(img, side, side), ref)
		small, info, err := Resized(t.Context(), bytes.NewReader(mustRead(t, src)), Options{Size: side, IgnoreOrientation: true})
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		add(&draft, rel, small, refDraft)
		add(&fast, rel, small, ref)
		if draftScale(info.StoredWidth, info.StoredHeight, side) > 1 {
			add(&scaled, rel, small, ref)
		}
		if testing.Verbose() {
			em, ea := diffStats(Resize(img, side, side), ref)
			dm, da := diffStats(small, refDraft)
			fm, fa := diffStats(small, ref)
			t.Logf("%-60s exact %2d %.3f  draft %2d %.3f  fast-vs-exact %3d %.3f", rel, em, ea, dm, da, fm, fa)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if exact.n == 0 {
		t.Fatal("no Pillow outputs found")
	}
	for _, r := range []struct {
		name string
		tl   tally
	}{{"Exact vs Pillow", exact}, {"fast vs Pillow draft", draft}, {"fast vs Pillow exact", fast}, {"(photos scaled)", scaled}} {
		t.Logf("%-22s over %d photos: mean |diff| %.4f levels, worst photo mean %.3f (%s), max single diff %d, bit-exact %d",
			r.name, r.tl.n, r.tl.sum/float64(r.tl.n), r.tl.worst, r.tl.worstName, r.tl.maxd, r.tl.exactN)
	}
	// Measured (139 photos at 384): Exact and fast-vs-draft are bit-exact
	// on all 139 (none is CMYK, which would go through image/jpeg, a level
	// or two off). Fast vs the official pipeline: 113 photos are under
	// 768 px on a side and not scaled (identical); over the 26 scaled ones
	// the mean is 1.00 level, the worst photo 5.04 (a 1136×775 scan of
	// fine detail at 1/2), the largest single difference 94. The bounds
	// keep the first two exact up to a stray level and the third near
	// what was measured.
	if exact.sum/float64(exact.n) > 0.01 || exact.worst > 0.2 {
		t.Errorf("Exact JPEG path drifted from Pillow: mean %.3f, worst %.3f", exact.sum/float64(exact.n), exact.worst)
	}
	if draft.sum/float64(draft.n) > 0.01 || draft.worst > 0.2 {
		t.Errorf("fast JPEG path drifted from Pillow's draft: mean %.3f, worst %.3f", draft.sum/float64(draft.n), draft.worst)
	}
	if scaled.n == 0 || scaled.sum/float64(scaled.n) > 2 || scaled.worst > 8 {
		t.Errorf("fast JPEG path drifted from the official pipeline: %d scaled photos, mean %.3f, worst %.3f",
			scaled.n, scaled.sum/float64(max(scaled.n, 1)), scaled.worst)
	}
}
