package indexer

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/xxh3"

	"imglish/encoder/preprocess"
	"imglish/internal/testenv"
)

// sharedPhotoPixels is the size above which a photo counts as large.
const sharedPhotoPixels = 2_000_000

// sharedRaceStride keeps one stamp in sharedRaceStride, and one small photo in
// sharedRaceStride, under -race (see sharedSubset).
const sharedRaceStride = 6

// sharedSubset lists the files under dir (relative to it) that
// TestSharedCollections copies, and the largest photo. Without -race that is
// every file. Under -race, where the whole of both collections takes ~90 s to
// decode on two shared cores (over the package's test budget), it keeps every
// non-image, one image in sharedRaceStride in lexical order, and every image
// over sharedPhotoPixels is dropped but the largest (a 4032×3024 phone photo).
// BenchmarkSharedPhotos indexes the whole photos folder as well.
func sharedSubset(t *testing.T, dir string) (files []string, largest string) {
	t.Helper()
	var most, n int
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !isImageName(p) {
			files = append(files, rel)
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		info, perr := preprocess.Probe(f, preprocess.Options{})
		f.Close()
		px := info.Width * info.Height
		if perr == nil && px > most {
			most, largest = px, rel
		}
		if perr == nil && px > sharedPhotoPixels && raceEnabled {
			return nil
		}
		if n++; !raceEnabled || n%sharedRaceStride == 1 {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if raceEnabled && most > sharedPhotoPixels {
		files = append(files, largest)
	}
	return files, largest
}

// copyTree copies the listed files (relative to src) into dst; the test may
// then change the copies without touching ../shared.
func copyTree(t *testing.T, src, dst string, rels []string) {
	t.Helper()
	for _, rel := range rels {
		in, err := os.Open(filepath.Join(src, rel))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(out, in)
		in.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// listFiles returns every regular file under root, relative to it.
func listFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// isImageName tells the test's own expectation, by extension, of which shared
// files are images (the indexer itself goes by content).
func isImageName(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff":
		return true
	default:
		return false
	}
}

// TestSharedCollections indexes copies of the real collections in
// ../shared/data — the 785 Tux Paint stamps (RGBA PNGs, with their caption
// .txt files) and the photos folder (a deterministic subset, see
// sharedPhotoSubset, with its READMEs and captions) — and checks, on real
// files: every file gets exactly one record; every distinct image goes through
// the encoder exactly once and duplicates are linked; non-images are error
// records with a reason; RGBA stamps are indexed with alpha dropped (the
// vector equals that of the same pixels made opaque); a second run reads no
// file content and embeds nothing; then an identical copy, a rename and a
// folder move cost no inference, a modified file costs one, and deletions
// remove their records.
func TestSharedCollections(t *testing.T) {
	t0 := time.Now()
	stampsSrc := testenv.SharedData(t, "caption-dataset", "tuxpaint-stamps")
	photosSrc := testenv.SharedData(t, "photos")
	for _, d := range []string{stampsSrc, photosSrc} {
		if _, err := os.Stat(d); err != nil {
			t.Skipf("skipping: %s absent: %v", d, err)
		}
	}
	root := t.TempDir()
	stamps, photos := filepath.Join(root, "stamps"), filepath.Join(root, "photos")
	stampFiles, _ := sharedSubset(t, stampsSrc)
	copyTree(t, stampsSrc, stamps, stampFiles)
	photoFiles, largest := sharedSubset(t, photosSrc)
	copyTree(t, photosSrc, photos, photoFiles)

	// The test's own account of the collection: content hash per image,
	// which files are not images, which stamps carry alpha.
	wantErr := map[string]bool{}
	hashes := map[string]Hash{} // image path → content hash
	distinct := map[Hash]bool{}
	var rgba []string
	for _, rel := range listFiles(t, root) {
		p := filepath.Join(root, rel)
		if !isImageName(p) {
			wantErr[p] = true
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h := Hash(xxh3.Hash128(b).Bytes())
		hashes[p], distinct[h] = h, true
		if strings.HasPrefix(rel, "stamps") {
			cfg, err := png.DecodeConfig(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("stamp %s: %v", p, err)
			}
			if cfg.ColorModel == color.NRGBAModel || cfg.ColorModel == color.NRGBA64Model {
				rgba = append(rgba, p)
			}
		}
	}
	stampImages := 0
	for _, rel := range stampFiles {
		if isImageName(rel) {
			stampImages++
		}
	}
	if len(rgba) < stampImages*8/10 { // 709 of the 785 stamps
		t.Fatalf("only %d of the stamps are RGBA; is %s the Tux Paint set?", len(rgba), stampsSrc)
	}
	// Opaque twins of a few stamps with partial transparency: the same RGB,
	// alpha 255. Dropping alpha (Pillow's convert('RGB')) makes each embed
	// like its stamp; compositing on any background would not.
	twins := map[string]string{}
	for _, p := range rgba {
		if len(twins) == 3 {
			break
		}
		if tw, ok := opaqueTwin(t, p, filepath.Join(root, "twins", filepath.Base(p))); ok {
			twins[p] = tw
			b, _ := os.ReadFile(tw)
			h := Hash(xxh3.Hash128(b).Bytes())
			hashes[tw], distinct[h] = h, true
		}
	}
	if len(twins) < 3 {
		t.Fatalf("only %d stamps with transparent pixels", len(twins))
	}
	t.Logf("race %v: %d stamps (%d RGBA), %d photo-folder files, %d non-images, %d distinct images",
		raceEnabled, stampImages, len(rgba), len(photoFiles), len(wantErr), len(distinct))

	e := newEnv(t, Options{BatchSize: 16})
	start := time.Now()
	sum := e.run(root)
	t.Logf("first run %.1fs (encoder %.1fs); setup before it %.1fs", time.Since(start).Seconds(), sum.EncoderSeconds, start.Sub(t0).Seconds())
	images := int64(len(hashes))
	if got := e.enc.images.Load(); got != int64(len(distinct)) || sum.Embedded != got {
		t.Errorf("encoder embedded %d images (summary %d), want %d distinct", got, sum.Embedded, len(distinct))
	}
	if sum.Linked != images-int64(len(distinct)) || sum.Failed != int64(len(wantErr)) || sum.Files != images+int64(len(wantErr)) {
		t.Errorf("first run %+v; want %d images (%d distinct), %d errors", sum.Progress, images, len(distinct), len(wantErr))
	}
	e.checkConsistent(root, wantErr)
	fe, err := e.ix.Errors(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fe {
		if !wantErr[f.Path] || f.Reason == "" {
			t.Errorf("error record %s: %q", f.Path, f.Reason)
		}
	}
	if len(fe) != len(wantErr) {
		t.Errorf("%d error records, want %d", len(fe), len(wantErr))
	}
	items, err := e.items()
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(distinct) {
		t.Errorf("%d items with vectors, want %d", len(items), len(distinct))
	}
	for _, p := range rgba {
		it := items[hashes[p]]
		if it.Item.MediaType != "image/png" || it.Item.Width == 0 {
			t.Errorf("stamp %s: item %+v", p, it.Item)
		}
	}
	for stamp, twin := range twins {
		if c := cosine(items[hashes[stamp]].Vector, items[hashes[twin]].Vector); c < 0.9999 {
			t.Errorf("%s: cosine %v to its opaque twin; alpha must be dropped, not composited", stamp, c)
		}
	}

	// Unchanged: no content read, nothing embedded.
	before := e.enc.images.Load()
	if sum := e.run(root); sum.Bytes != 0 || sum.Skipped != sum.Files || e.enc.images.Load() != before {
		t.Errorf("unchanged run: %+v, encoder %d → %d", sum.Progress, before, e.enc.images.Load())
	}

	// Changes on the real files.
	copyFile(t, filepath.Join(photos, largest), filepath.Join(root, "copies", "big-copy.jpg"))
	copyFile(t, rgba[0], filepath.Join(root, "copies", "stamp-copy.png"))
	moved := 0
	for _, rel := range listFiles(t, filepath.Join(photos, "skimage")) {
		if isImageName(rel) {
			moved++
		}
	}
	if err := os.Rename(filepath.Join(photos, "skimage"), filepath.Join(root, "moved-skimage")); err != nil {
		t.Fatal(err)
	}
	renamed := filepath.Join(photos, largest)
	if err := os.Rename(renamed, renamed+".renamed.jpg"); err != nil {
		t.Fatal(err)
	}
	modified := rgba[1]
	genImage(t, modified, 4242, 96, 80) // new content at the same path (a PNG)
	if err := os.RemoveAll(filepath.Join(stamps, "medical")); err != nil {
		t.Fatal(err)
	}
	sum = e.run(root)
	if got := e.enc.images.Load() - before; got != 1 || sum.Embedded != 1 {
		t.Errorf("after changes the encoder embedded %d images (summary %d), want 1 (the modified stamp)", got, sum.Embedded)
	}
	if sum.Linked != int64(3+moved) || sum.Deleted == 0 { // two copies, a rename, the moved folder

		t.Errorf("changes run: %+v", sum.Progress)
	}
	wantErr = map[string]bool{}
	for _, rel := range listFiles(t, root) {
		if p := filepath.Join(root, rel); !isImageName(p) {
			wantErr[p] = true
		}
	}
	e.checkConsistent(root, wantErr)
	t.Logf("whole test %.1fs", time.Since(t0).Seconds())
}

// opaqueTwin writes the PNG at src with every alpha set to 255 to dst, if src
// has a pixel that is neither transparent nor opaque.
func opaqueTwin(t *testing.T, src, dst string) (string, bool) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("decode %s: %v", src, err)
	}
	n, ok := img.(*image.NRGBA)
	if !ok {
		return "", false
	}
	partial := 0
	for i := 3; i < len(n.Pix); i += 4 {
		if a := n.Pix[i]; a != 0 && a != 255 && n.Pix[i-1]|n.Pix[i-2]|n.Pix[i-3] != 0 {
			partial++
		}
		n.Pix[i] = 255
	}
	if partial < 100 {
		return "", false
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, n); err != nil {
		t.Fatal(err)
	}
	write(t, dst, buf.String())
	return dst, true
}

func cosine(a, b []float32) float64 {
	if len(a) == 0 || len(a) != len(b) {
		return math.NaN()
	}
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}
