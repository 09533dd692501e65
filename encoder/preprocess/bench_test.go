package preprocess

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"testing"
)

// benchJPEG makes a structured w×h JPEG (gradients, edges, noise) at
// quality 90, 4:2:0, as a phone would write.
func benchJPEG(b *testing.B, w, h int) []byte {
	b.Helper()
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	rng := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := (x*255/w + y*255/h) / 2
			if (x/97+y/61)%2 == 0 {
				v = 255 - v
			}
			img.Y[y*img.YStride+x] = uint8(v + rng.IntN(24))
		}
	}
	for y := 0; y < (h+1)/2; y++ {
		for x := 0; x < (w+1)/2; x++ {
			img.Cb[y*img.CStride+x] = uint8(x * 255 / w)
			img.Cr[y*img.CStride+x] = uint8(y * 255 / h)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkJPEGTensor: a JPEG to a 384×384 tensor, the indexer's per-image
// cost (single goroutine), by the default DCT-scaled path ("fast") and with
// Options.Exact. Run with -cpu 1 for the one-core figure.
func BenchmarkJPEGTensor(b *testing.B) {
	for _, s := range []struct {
		name string
		w, h int
	}{{"12MP", 4000, 3000}, {"2MP", 1600, 1200}} {
		data := benchJPEG(b, s.w, s.h)
		for _, exact := range []bool{false, true} {
			name := s.name + "/fast"
			if exact {
				name = s.name + "/exact"
			}
			b.Run(name, func(b *testing.B) {
				opts := Options{Exact: exact}.withDefaults()
				b.ReportAllocs()
				b.SetBytes(int64(s.w * s.h)) // "MB/s" reads as megapixels per second
				b.ResetTimer()
				start := cpuTime()
				for i := 0; i < b.N; i++ {
					// Reader's path, minus the io.ReadAll of the input.
					if _, _, err := tensorBytes(context.Background(), data, opts); err != nil {
						b.Fatal(err)
					}
				}
				reportCPU(b, start)
			})
		}
	}
}

// BenchmarkStages splits the 12 MP case into its stages.
func BenchmarkStages(b *testing.B) {
	data := benchJPEG(b, 4000, 3000)
	opts := Options{}.withDefaults()
	h, err := probe(data, opts)
	if err != nil {
		b.Fatal(err)
	}
	dec, err := decodePixels(h)
	if err != nil {
		b.Fatal(err)
	}
	rgb, _ := toRGB(dec, convertOpts{})
	small := Resize(rgb, 384, 384)
	b.Run("stdlib-jpeg-decode", stage(func() error {
		_, err := jpeg.Decode(bytes.NewReader(data))
		return err
	}))
	for _, s := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("jpeg-decode-1/%d", s), stage(func() error {
			_, _, err := decodeScaled(h, s)
			return err
		}))
	}
	b.Run("ycbcr-to-rgb", stage(func() error {
		_, err := toRGB(dec, convertOpts{})
		return err
	}))
	b.Run("orient-6", stage(func() error {
		orient(rgb, 6)
		return nil
	}))
	b.Run("resize-384", stage(func() error {
		Resize(rgb, 384, 384)
		return nil
	}))
	dst := make([]float32, 3*384*384)
	b.Run("normalize", stage(func() error {
		Normalize(small, [3]float32{}, [3]float32{}, dst)
		return nil
	}))
}

// stage benchmarks f with allocations and CPU time reported.
func stage(f func() error) func(*testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		start := cpuTime()
		for i := 0; i < b.N; i++ {
			if err := f(); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, start)
	}
}
