package preprocess

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"testing"
)

// decodeFixture decodes a self-made fixture; fix_cmyk_raw.png holds CMYK
// samples in its four channels and is reinterpreted, since no lossless
// container decodes CMYK identically in Go and Pillow.
func decodeFixture(t *testing.T, name string) *RGB {
	t.Helper()
	if name != "fix_cmyk_raw.png" {
		img, _, err := decodeFile(t, fixture(t, name), Options{})
		if err != nil {
			t.Fatalf("decode %s: %v", name, err)
		}
		return img
	}
	b, err := os.ReadFile(fixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	src, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	n, ok := src.(*image.NRGBA)
	if !ok {
		t.Fatalf("%s decodes as %T, want *image.NRGBA", name, src)
	}
	cmyk := &image.CMYK{Pix: n.Pix, Stride: n.Stride, Rect: n.Rect}
	rgb, err := toRGB(cmyk, convertOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return rgb
}

// TestResizeParity: colour conversion and the resize are bit-exact with
// Pillow 9.4 (goldens from tools/preprocess/make_goldens.py).
func TestResizeParity(t *testing.T) { resizePaths(t, testResizeParity) }

func testResizeParity(t *testing.T) {
	m := loadManifest(t)
	if len(m.Resize) < 30 {
		t.Fatalf("manifest has %d resize cases, want the full set", len(m.Resize))
	}
	decoded := map[string]*RGB{}
	for _, c := range m.Resize {
		t.Run(c.Golden, func(t *testing.T) {
			src, ok := decoded[c.Fixture]
			if !ok {
				src = decodeFixture(t, c.Fixture)
				decoded[c.Fixture] = src
			}
			want := readPNGRGB(t, fixture(t, c.Golden))
			got := src
			if c.Width > 0 {
				got = Resize(src, c.Width, c.Height)
			}
			if got.Width != want.Width || got.Height != want.Height {
				t.Fatalf("%s (%s): size %dx%d, want %dx%d", c.Fixture, c.What, got.Width, got.Height, want.Width, want.Height)
			}
			if !bytes.Equal(got.Pix, want.Pix) {
				p, g, w := firstDiff(got, want)
				maxd, mean := diffStats(got, want)
				t.Fatalf("%s (%s) → %dx%d: not bit-exact: first diff at %v got %v want %v; max %d mean %.4f",
					c.Fixture, c.What, c.Width, c.Height, p, g, w, maxd, mean)
			}
		})
	}
}

// TestNormalizeLUT: the per-byte tensor values equal torchvision's
// ToTensor+Normalize bit for bit, for BEiT-3's and ImageNet's mean/std.
func TestNormalizeLUT(t *testing.T) {
	b, err := os.ReadFile(fixture(t, "lut.json"))
	if err != nil {
		t.Fatal(err)
	}
	var luts map[string]struct {
		Mean, Std [3]float32
		Bits      [3][256]uint32
	}
	if err := json.Unmarshal(b, &luts); err != nil {
		t.Fatal(err)
	}
	ramp := NewRGB(256, 1)
	for i := 0; i < 256; i++ {
		ramp.Pix[3*i], ramp.Pix[3*i+1], ramp.Pix[3*i+2] = uint8(i), uint8(i), uint8(i)
	}
	for name, l := range luts {
		got := Normalize(ramp, l.Mean, l.Std, nil)
		for c := 0; c < 3; c++ {
			for p := 0; p < 256; p++ {
				if g := math.Float32bits(got[c*256+p]); g != l.Bits[c][p] {
					t.Fatalf("%s: channel %d byte %d: got %v want %v", name, c, p, got[c*256+p], math.Float32frombits(l.Bits[c][p]))
				}
			}
		}
	}
	if len(luts) != 2 {
		t.Fatalf("lut.json has %d tables, want 2", len(luts))
	}
}

// TestTensorGolden: the whole File path gives torchvision's tensor bit for
// bit (Resize((37,37), BICUBIC), ToTensor, Normalize(0.5, 0.5)).
func TestTensorGolden(t *testing.T) {
	raw, err := os.ReadFile(fixture(t, "tensor_fix_rgb_37.f32"))
	if err != nil {
		t.Fatal(err)
	}
	got, info, err := File(t.Context(), fixture(t, "fix_rgb.png"), Options{Size: 37})
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != FormatPNG || info.Width != 173 || info.Height != 97 {
		t.Fatalf("info %+v", info)
	}
	if len(got)*4 != len(raw) {
		t.Fatalf("tensor has %d values, golden %d", len(got), len(raw)/4)
	}
	for i, v := range got {
		if w := binary.LittleEndian.Uint32(raw[4*i:]); math.Float32bits(v) != w {
			t.Fatalf("value %d: got %v want %v", i, v, math.Float32frombits(w))
		}
	}
}

// TestResizeIdentityAndDegenerate covers the no-op and 1-pixel edges.
func TestResizeIdentityAndDegenerate(t *testing.T) {
	src := decodeFixture(t, "fix_tiny.png")
	tests := []struct {
		name string
		w, h int
	}{
		{"same size copies", 5, 3},
		{"one pixel", 1, 1},
		{"width only", 9, 3},
		{"height only", 5, 8},
	}
	for _, tc := range tests {
		got := Resize(src, tc.w, tc.h)
		if got.Width != tc.w || got.Height != tc.h || len(got.Pix) != 3*tc.w*tc.h {
			t.Fatalf("%s: got %dx%d (%d bytes)", tc.name, got.Width, got.Height, len(got.Pix))
		}
		if tc.w == 5 && tc.h == 3 && (!bytes.Equal(got.Pix, src.Pix) || &got.Pix[0] == &src.Pix[0]) {
			t.Fatalf("%s: want an equal copy", tc.name)
		}
	}
}

// TestJPEGNearPillow: for each chroma subsampling at an odd size, Go's JPEG
// path is within IDCT rounding of Pillow's decode (libjpeg-turbo). Go's
// YCbCr.At (nearest chroma) would miss by tens of levels at the edges.
func TestJPEGNearPillow(t *testing.T) {
	m := loadManifest(t)
	if len(m.JPEG) != 3 {
		t.Fatalf("manifest has %d JPEG cases, want 3", len(m.JPEG))
	}
	for _, c := range m.JPEG {
		got, _, err := decodeFile(t, fixture(t, c.File), Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := readPNGRGB(t, fixture(t, c.Golden))
		maxd, mean := diffStats(got, want)
		t.Logf("%s: max %d mean %.4f", c.File, maxd, mean)
		if maxd > 4 || mean > 0.3 {
			t.Errorf("%s: max %d mean %.4f from Pillow", c.File, maxd, mean)
		}
	}
}

// withOrientation inserts an EXIF APP1 segment with the given orientation
// right after a JPEG's SOI marker.
func withOrientation(jpg []byte, o uint16) []byte {
	tiff := []byte("MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00")
	binary.BigEndian.PutUint16(tiff[18:], o)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := []byte{0xff, 0xe1, 0, 0}
	binary.BigEndian.PutUint16(app1[2:], uint16(len(seg)+2))
	out := append([]byte{}, jpg[:2]...)
	out = append(out, app1...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// TestFusedTensor: Reader's row-streaming JPEG path gives the same tensor,
// bit for bit, as Decode followed by Tensor, for every subsampling and
// every orientation (1–4 stream, 5–8 take the full-image path).
func TestFusedTensor(t *testing.T) {
	for _, name := range []string{"jpeg_420.jpg", "jpeg_422.jpg", "jpeg_444.jpg"} {
		base := mustRead(t, fixture(t, name))
		for o := uint16(1); o <= 8; o++ {
			data := withOrientation(base, o)
			for _, size := range []int{37, 224} {
				opts := Options{Size: size, Exact: true}
				got, info, err := Reader(t.Context(), bytes.NewReader(data), opts)
				if err != nil {
					t.Fatal(err)
				}
				if info.Orientation != int(o) {
					t.Fatalf("%s o=%d: orientation read as %d", name, o, info.Orientation)
				}
				img, _, err := Decode(bytes.NewReader(data), opts)
				if err != nil {
					t.Fatal(err)
				}
				if want := Tensor(img, size, [3]float32{}, [3]float32{}, nil); !equalF32(got, want) {
					t.Fatalf("%s orientation %d size %d: streamed tensor differs", name, o, size)
				}
			}
		}
	}
}
