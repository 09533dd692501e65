package jpegscale

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"imglish/internal/testenv"
)

// fixtures are self-made JPEGs of ../../testdata/preprocess (made by
// tools/preprocess/make_goldens.py and make_draft_goldens.py): every
// subsampling, gray, progressive, restart markers.
var fixtures = []string{
	"jpeg_420.jpg", "jpeg_422.jpg", "jpeg_444.jpg", "jpeg_440.jpg", "jpeg_411.jpg", "exif_rot6.jpg",
	"fast_420.jpg", "fast_422_prog.jpg", "fast_444_rot6.jpg", "fast_gray_prog.jpg", "fast_restart.jpg",
}

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(testenv.Path(t, "testdata", "preprocess", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// planes returns the Y, Cb, Cr planes (Cb, Cr nil for gray) of image/jpeg's
// decode, for comparison.
func stdPlanes(t *testing.T, data []byte) (y []byte, ys int, cb, cr []byte, cs int, r image.Rectangle) {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	switch m := img.(type) {
	case *image.YCbCr:
		return m.Y, m.YStride, m.Cb, m.Cr, m.CStride, m.Rect
	case *image.Gray:
		return m.Pix, m.Stride, nil, nil, 0, m.Rect
	}
	t.Fatalf("image/jpeg gave %T", img)
	return
}

// planeDiff compares w×h samples of two planes.
func planeDiff(a []byte, as int, b []byte, bs int, w, h int) (maxd int, mean float64) {
	sum := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			d := int(a[y*as+x]) - int(b[y*bs+x])
			d = max(d, -d)
			sum += d
			maxd = max(maxd, d)
		}
	}
	return maxd, float64(sum) / float64(w*h)
}

// TestFullSizeNearStdlib: at scale 1 the planes equal image/jpeg's up to
// IDCT rounding (libjpeg's islow against Go's own IDCT: measured max 1,
// mean 0.005–0.023), so Huffman decoding, progressive refinement and block
// placement agree.
func TestFullSizeNearStdlib(t *testing.T) {
	for _, name := range fixtures {
		data := read(t, name)
		m, err := Decode(data, 1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		y, ys, cb, cr, cs, r := stdPlanes(t, data)
		if m.Width != r.Dx() || m.Height != r.Dy() || m.Gray != (cb == nil) {
			t.Fatalf("%s: %dx%d gray=%v, image/jpeg %v gray=%v", name, m.Width, m.Height, m.Gray, r, cb == nil)
		}
		maxd, mean := planeDiff(m.Y, m.YStride, y, ys, m.Width, m.Height)
		if !m.Gray {
			cw, ch := (m.Width+m.HS-1)/m.HS, (m.Height+m.VS-1)/m.VS
			for _, p := range [][2][]byte{{m.Cb, cb}, {m.Cr, cr}} {
				md, mn := planeDiff(p[0], m.CStride, p[1], cs, cw, ch)
				maxd, mean = max(maxd, md), max(mean, mn)
			}
		}
		t.Logf("%s: planes vs image/jpeg: max %d mean %.4f", name, maxd, mean)
		if maxd > 2 || mean > 0.1 {
			t.Errorf("%s: planes differ from image/jpeg by max %d mean %.3f", name, maxd, mean)
		}
	}
}

// TestScaledNearBoxAverage: a decode at 1/s is close to the s×s box
// average of the full-size decode (a DCT-domain shrink is a low-pass
// filter, not a box: measured mean 0.02–0.2 levels on these fixtures), so
// the reduced IDCTs and their block placement are right; a misplaced block
// or a wrong IDCT size gives tens of levels.
func TestScaledNearBoxAverage(t *testing.T) {
	for _, name := range fixtures {
		data := read(t, name)
		full, err := Decode(data, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []int{2, 4, 8} {
			m, err := Decode(data, s)
			if err != nil {
				t.Fatalf("%s at 1/%d: %v", name, s, err)
			}
			if m.Width != (full.Width+s-1)/s || m.Height != (full.Height+s-1)/s {
				t.Fatalf("%s at 1/%d: %dx%d from %dx%d", name, s, m.Width, m.Height, full.Width, full.Height)
			}
			sum, n := 0, 0
			for y := 0; y < full.Height/s; y++ {
				for x := 0; x < full.Width/s; x++ {
					acc := 0
					for j := 0; j < s; j++ {
						for i := 0; i < s; i++ {
							acc += int(full.Y[(y*s+j)*full.YStride+x*s+i])
						}
					}
					d := int(m.Y[y*m.YStride+x]) - (acc+s*s/2)/(s*s)
					sum += max(d, -d)
					n++
				}
			}
			mean := float64(sum) / float64(max(n, 1))
			t.Logf("%s at 1/%d: luma vs box average: mean %.3f", name, s, mean)
			if mean > 1 {
				t.Errorf("%s at 1/%d: luma differs from the box average by %.2f levels on average", name, s, mean)
			}
		}
	}
}

// TestChromaScaling: libjpeg scales subsampled chroma up in the IDCT where
// both axes allow it (jdmaster.c), so what is left for the upsampler
// depends on the scale (TestDraftDecode checks the pixels against Pillow).
func TestChromaScaling(t *testing.T) {
	tests := []struct {
		file          string
		scale, hs, vs int
		fancy         bool
	}{
		{"jpeg_420.jpg", 1, 2, 2, true},
		{"jpeg_420.jpg", 2, 1, 1, true},
		{"jpeg_420.jpg", 8, 1, 1, false},
		{"jpeg_422.jpg", 1, 2, 1, true},
		{"jpeg_422.jpg", 4, 2, 1, true},
		{"jpeg_422.jpg", 8, 2, 1, false},
		{"jpeg_444.jpg", 4, 1, 1, true},
		{"jpeg_440.jpg", 1, 1, 2, true},
		{"jpeg_440.jpg", 2, 1, 2, true}, // only one axis subsampled: not IDCT-scaled
		{"jpeg_411.jpg", 1, 4, 1, true},
		{"jpeg_411.jpg", 4, 4, 1, true},
		{"jpeg_411.jpg", 8, 4, 1, false},
	}
	for _, tc := range tests {
		m, err := Decode(read(t, tc.file), tc.scale)
		if err != nil {
			t.Fatal(err)
		}
		if m.HS != tc.hs || m.VS != tc.vs || m.Fancy != tc.fancy {
			t.Errorf("%s at 1/%d: HS %d VS %d fancy %v, want %d %d %v", tc.file, tc.scale, m.HS, m.VS, m.Fancy, tc.hs, tc.vs, tc.fancy)
		}
		if _, ok := m.YCbCr(); !ok {
			t.Errorf("%s at 1/%d: no image.YCbCr view", tc.file, tc.scale)
		}
	}
}

// rgbCoded relabels a YCbCr JPEG's components as R, G, B (in SOF and SOS),
// which makes it an RGB-coded JPEG for image/jpeg and libjpeg alike.
func rgbCoded(t *testing.T, data []byte) []byte {
	t.Helper()
	out := append([]byte(nil), data...)
	ids := map[byte]byte{}
	for i := 0; i+1 < len(out); i++ {
		if out[i] != 0xff {
			continue
		}
		switch out[i+1] {
		case sof0Marker, sof2Marker:
			for c := 0; c < 3; c++ {
				p := i + 10 + 3*c
				ids[out[p]] = "RGB"[c]
				out[p] = "RGB"[c]
			}
		case sosMarker:
			n := int(out[i+4])
			for c := 0; c < n; c++ {
				p := i + 5 + 2*c
				out[p] = ids[out[p]]
			}
		case app0Marker:
			out[i+4] = 'X' // no longer JFIF
		}
	}
	return out
}

// TestErrors: each failure has its type; nothing panics.
func TestErrors(t *testing.T) {
	good := read(t, "jpeg_420.jpg")
	var fe FormatError
	var ue UnsupportedError
	tests := []struct {
		name  string
		data  []byte
		scale int
		check func(error) bool
	}{
		{"truncated", good[:len(good)/2], 2, func(err error) bool { return errors.As(err, &fe) }},
		{"cut at the scan", good[:len(good)-600], 1, func(err error) bool { return errors.As(err, &fe) }},
		{"not a JPEG", []byte("GIF89a"), 1, func(err error) bool { return errors.As(err, &fe) }},
		{"empty", nil, 4, func(err error) bool { return errors.As(err, &fe) }},
		{"scale 3", good, 3, func(err error) bool { return errors.As(err, &ue) }},
		{"RGB-coded", rgbCoded(t, good), 2, func(err error) bool { return errors.Is(err, ErrFallback) }},
	}
	for _, tc := range tests {
		m, err := Decode(tc.data, tc.scale)
		if err == nil || m != nil || !tc.check(err) {
			t.Errorf("%s: got %v, %v", tc.name, m, err)
		}
	}
	if _, err := jpeg.Decode(bytes.NewReader(rgbCoded(t, good))); err != nil {
		t.Fatalf("the RGB-coded variant should still be a valid JPEG: %v", err)
	}
}

// TestConfig reads the frame size without decoding.
func TestConfig(t *testing.T) {
	w, h, n, err := Config(read(t, "fast_gray_prog.jpg"))
	if err != nil || w != 1000 || h != 820 || n != 1 {
		t.Fatalf("got %d×%d, %d components, %v", w, h, n, err)
	}
	if _, _, _, err := Config([]byte("\xff\xd8\xff\xd9")); err == nil {
		t.Fatal("no SOF: want an error")
	}
}

// FuzzDecode: any input gives an image of the promised size with planes
// that hold it, or an error; never a panic (decode runs without Decode's
// recover here). Frames are capped at 1 MP through Config, as the caller
// does with its pixel limit.
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob(testenv.Path(f, "testdata", "preprocess", "*.jpg"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		if fi, err := os.Stat(p); err == nil && fi.Size() < 64<<10 && !strings.HasPrefix(filepath.Base(p), "bad_text") {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, uint8(1))
			f.Add(b, uint8(2))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, sel uint8) {
		w, h, _, err := Config(b)
		if err != nil || w*h > 1<<20 {
			return
		}
		s := 1 << (sel % 4)
		m, err := decode(b, s)
		if err != nil {
			return
		}
		if m.Width != (w+s-1)/s || m.Height != (h+s-1)/s {
			t.Fatalf("%dx%d at 1/%d gave %dx%d", w, h, s, m.Width, m.Height)
		}
		if len(m.Y) < m.YStride*(m.Height-1)+m.Width {
			t.Fatalf("Y plane of %d bytes for %dx%d stride %d", len(m.Y), m.Width, m.Height, m.YStride)
		}
		if !m.Gray {
			cw, ch := (m.Width+m.HS-1)/m.HS, (m.Height+m.VS-1)/m.VS
			if len(m.Cb) < m.CStride*(ch-1)+cw || len(m.Cr) < m.CStride*(ch-1)+cw {
				t.Fatalf("chroma planes of %d, %d bytes for %dx%d stride %d", len(m.Cb), len(m.Cr), cw, ch, m.CStride)
			}
		}
	})
}
