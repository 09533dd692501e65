package preprocess

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode runs the whole decode path (sniff, header guard, EXIF,
// decoders, conversion, orientation, tensor; Reader's DCT-scaled JPEG path
// too) on arbitrary bytes with a small
// pixel cap: it must return a typed error or a well-formed result, never
// panic or allocate past the cap.
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(repoRoot(f), "testdata", "preprocess", "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		if strings.HasPrefix(filepath.Base(p), "gold_") || strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".f32") {
			continue
		}
		if fi, err := os.Stat(p); err == nil && fi.Size() < 64<<10 {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, h := range unsupportedHeaders { // the signatures UnsupportedFormat names
		f.Add(h.head)
	}
	opts := Options{MaxPixels: 1 << 18, Size: 16}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The tensor path, which decodes a JPEG of 32 px or more on a side
		// in the DCT domain.
		if v, _, err := Reader(t.Context(), bytes.NewReader(b), opts); err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("untyped error from Reader: %v", err)
			}
		} else if len(v) != 3*16*16 {
			t.Fatalf("Reader gave %d values", len(v))
		}
		img, info, err := Decode(bytes.NewReader(b), opts)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if img.Width != info.Width || img.Height != info.Height || len(img.Pix) != 3*img.Width*img.Height {
			t.Fatalf("image %dx%d (%d bytes) vs info %+v", img.Width, img.Height, len(img.Pix), info)
		}
		if info.Orientation < 1 || info.Orientation > 8 {
			t.Fatalf("orientation %d", info.Orientation)
		}
		if v := Tensor(img, opts.Size, [3]float32{}, [3]float32{}, nil); len(v) != 3*16*16 {
			t.Fatalf("tensor of %d values", len(v))
		}
	})
}

// FuzzEXIF: the IFD parser never panics and keeps strings bounded.
func FuzzEXIF(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join(repoRoot(f), "testdata", "preprocess", "exif_rot6.jpg")); err == nil {
		if h := scanJPEG(b); h.exif != nil {
			f.Add(h.exif)
		}
	}
	f.Add([]byte("II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00"))
	f.Add([]byte("MM\x00*\x00\x00\x00\x08\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := parseEXIF(b)
		if m == nil {
			return
		}
		for _, s := range []string{m.Make, m.Model, m.LensModel, m.DateTimeOriginal, m.OffsetTimeOriginal, m.DateTimeDigitized, m.OffsetTimeDigitized, m.DateTime, m.OffsetTime} {
			if len(s) > maxStringLen {
				t.Fatalf("string of %d bytes", len(s))
			}
		}
		_, _, _ = m.Time()
	})
}
