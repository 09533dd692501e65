package preprocess

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"testing"
)

// resizePaths runs f once per resize implementation this machine has:
// "mac" (macRows, AVX2 on amd64) and "scalar" (the row loops). It and
// withMAC switch a package variable, which is safe because no test of this
// package runs in parallel (none calls t.Parallel).
func resizePaths(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := useMAC
	t.Cleanup(func() { useMAC = saved })
	paths := []bool{false}
	if haveMAC {
		paths = append(paths, true)
	} else {
		t.Log("no AVX2 on this machine: only the scalar resize is tested")
	}
	for _, mac := range paths {
		name := "scalar"
		if mac {
			name = "mac"
		}
		useMAC = mac
		t.Run(name, f)
	}
	useMAC = saved
}

// withMAC runs f with useMAC set to on.
func withMAC(on bool, f func()) {
	saved := useMAC
	useMAC = on
	defer func() { useMAC = saved }()
	f()
}

// TestMACMatchesScalar: the macRows resize equals the scalar one to the bit
// on random images of many shapes, shrinking and enlarging (widths around
// the 16-sample vector step, hard edges whose bicubic overshoot is clipped
// at both ends), and through the YCbCr row path that JPEGs take.
func TestMACMatchesScalar(t *testing.T) {
	if !haveMAC {
		t.Skip("no AVX2 on this machine: there is no second implementation to compare")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	sizes := []int{1, 2, 3, 5, 15, 16, 17, 31, 33, 80, 97, 128, 255, 384}
	for i := 0; i < 300; i++ {
		inW, inH := sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))]
		w, h := sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))]
		img := NewRGB(inW, inH)
		switch i % 3 {
		case 0: // noise
			for j := range img.Pix {
				img.Pix[j] = uint8(rng.IntN(256))
			}
		case 1: // black and white blocks: maximal over- and undershoot
			for y := 0; y < inH; y++ {
				for x := 0; x < inW; x++ {
					if (x/2+y/3)%2 == 0 {
						copy(img.Pix[3*(y*inW+x):], []uint8{255, 255, 255})
					}
				}
			}
		default: // gradients
			for j := range img.Pix {
				img.Pix[j] = uint8(j * 7)
			}
		}
		var scalar, mac *RGB
		withMAC(false, func() { scalar = Resize(img, w, h) })
		withMAC(true, func() { mac = Resize(img, w, h) })
		if !bytes.Equal(scalar.Pix, mac.Pix) {
			p, g, want := firstDiff(mac, scalar)
			t.Fatalf("case %d: %dx%d → %dx%d: mac differs from scalar at %v: %v, want %v", i, inW, inH, w, h, p, g, want)
		}
	}
	for _, c := range []struct{ w, h, size int }{{300, 200, 80}, {97, 61, 384}, {640, 480, 224}} {
		t.Run(fmt.Sprintf("jpeg %dx%d to %d", c.w, c.h, c.size), func(t *testing.T) {
			src := image.NewRGBA(image.Rect(0, 0, c.w, c.h))
			for j := range src.Pix {
				src.Pix[j] = uint8(rng.IntN(256))
			}
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 90}); err != nil {
				t.Fatal(err)
			}
			for _, exact := range []bool{false, true} {
				var scalar, mac *RGB
				var err1, err2 error
				opts := Options{Size: c.size, Exact: exact}
				withMAC(false, func() { scalar, _, err1 = Resized(t.Context(), bytes.NewReader(buf.Bytes()), opts) })
				withMAC(true, func() { mac, _, err2 = Resized(t.Context(), bytes.NewReader(buf.Bytes()), opts) })
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				if !bytes.Equal(scalar.Pix, mac.Pix) {
					p, g, want := firstDiff(mac, scalar)
					t.Fatalf("exact=%v: mac differs from scalar at %v: %v, want %v", exact, p, g, want)
				}
			}
		})
	}
}

// BenchmarkResize: one 128 px image (the demo collection's size) resized
// to the demo model's 80 px and to base's 384 px, by each implementation.
func BenchmarkResize(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	img := NewRGB(128, 128)
	for j := range img.Pix {
		img.Pix[j] = uint8(rng.IntN(256))
	}
	for _, size := range []int{80, 384} {
		for _, mac := range []bool{false, true} {
			if mac && !haveMAC {
				continue
			}
			name := fmt.Sprintf("128to%d/scalar", size)
			if mac {
				name = fmt.Sprintf("128to%d/mac", size)
			}
			b.Run(name, func(b *testing.B) {
				withMAC(mac, func() {
					for b.Loop() {
						Resize(img, size, size)
					}
				})
			})
		}
	}
}
