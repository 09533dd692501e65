package preprocess

import "math"

// Pillow's BICUBIC resample (Resample.c in Pillow 9.4), reproduced to the
// bit: coefficients are computed in float64 with Pillow's operation order,
// normalised, converted to 22-bit fixed point, and each separable pass
// rounds and clips to uint8. See ../shared/spec/beit3.md §4.

const precisionBits = 32 - 8 - 2

// coeffs are one axis's fixed-point filter taps: output i reads
// n = bounds[2i+1] input samples from bounds[2i], weighted by
// k[i*ksize : i*ksize+n].
type coeffs struct {
	bounds []int
	k      []int32
	ksize  int
}

// bicubic is Pillow's bicubic_filter with a = −0.5, in its exact
// expression form (float64 products are kept unfused on purpose).
func bicubic(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return float64(float64(float64(float64(a+2)*x)-(a+3))*x)*x + 1
	}
	if x < 2 {
		return float64(float64(float64(float64(x-5)*x)+8)*x-4) * a
	}
	return 0
}

// precompute is Pillow's precompute_coeffs + normalize_coeffs_8bpc for the
// box [0, in) resampled to out samples.
func precompute(in, out int) coeffs {
	scale := float64(in) / float64(out)
	filterscale := max(scale, 1.0)
	const filterSupport = 2.0
	support := filterSupport * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := coeffs{bounds: make([]int, 2*out), k: make([]int32, out*ksize), ksize: ksize}
	kk := make([]float64, ksize)
	for xx := 0; xx < out; xx++ {
		center := (float64(xx) + 0.5) * scale
		ww := 0.0
		ss := 1.0 / filterscale
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > in {
			xmax = in
		}
		xmax -= xmin
		for x := 0; x < xmax; x++ {
			w := bicubic(float64(float64(x+xmin)-center+0.5) * ss)
			kk[x] = w
			ww += w
		}
		for x := 0; x < xmax; x++ {
			if ww != 0 {
				kk[x] /= ww
			}
		}
		for x := 0; x < xmax; x++ {
			v := kk[x] * (1 << precisionBits)
			if v < 0 {
				c.k[xx*ksize+x] = int32(-0.5 + v)
			} else {
				c.k[xx*ksize+x] = int32(0.5 + v)
			}
		}
		c.bounds[2*xx], c.bounds[2*xx+1] = xmin, xmax
	}
	return c
}

func clip8(v int32) uint8 {
	v >>= precisionBits
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return uint8(v)
}

// Resize returns img resized to w×h with Pillow's BICUBIC filter
// (antialiased when shrinking), bit-exact with Pillow 9.4's
// Image.resize((w, h), Image.BICUBIC) on an RGB image. It is safe for
// concurrent use; img is not modified.
func Resize(img *RGB, w, h int) *RGB {
	if w <= 0 || h <= 0 || img.Width <= 0 || img.Height <= 0 {
		return NewRGB(max(w, 0), max(h, 0))
	}
	needH, needV := img.Width != w, img.Height != h
	if !needH && !needV {
		out := NewRGB(w, h)
		copy(out.Pix, img.Pix)
		return out
	}
	stride := 3 * img.Width
	return resize(img.Width, img.Height, func(y int, _ []uint8) []uint8 {
		return img.Pix[y*stride : (y+1)*stride]
	}, nil, w, h)
}

// rowFunc returns input row y as 3·width bytes, either a slice of its own
// or buf filled in.
type rowFunc func(y int, buf []uint8) []uint8

// packFunc writes input row y for the horizontal pass: r | g<<32 per pixel
// in rg and b in bl (see resampleH).
type packFunc func(y int, rg []int64, bl []int32)

// packRows adapts a rowFunc to a packFunc.
func packRows(rowAt rowFunc, inW int) packFunc {
	buf := make([]uint8, 3*inW)
	return func(y int, rg []int64, bl []int32) {
		row := rowAt(y, buf)[:3*inW]
		rg, bl = rg[:inW], bl[:inW]
		for x := range rg {
			p := row[3*x : 3*x+3 : 3*x+3]
			rg[x] = int64(p[0]) | int64(p[1])<<32
			bl[x] = int32(p[2])
		}
	}
}

// resize is Resize over rows from a rowFunc; inW×inH must differ from w×h.
// pack, when not nil, gives the same rows to the scalar horizontal pass
// directly; the macRows pass (useMAC) reads rowAt only.
func resize(inW, inH int, rowAt rowFunc, pack packFunc, w, h int) *RGB {
	needH, needV := inW != w, inH != h
	var vc coeffs
	// Like Pillow, the horizontal pass only produces the rows [y0, y1) the
	// vertical pass will read.
	y0, y1 := 0, inH
	if needV {
		vc = precompute(inH, h)
		y0 = vc.bounds[0]
		y1 = vc.bounds[2*(h-1)] + vc.bounds[2*(h-1)+1]
	}
	var src *RGB
	if needH && useMAC {
		src = resampleHT(inW, rowAt, w, y0, y1)
	} else if needH {
		if pack == nil {
			pack = packRows(rowAt, inW)
		}
		src = resampleH(inW, pack, w, y0, y1)
	} else {
		src = NewRGB(inW, y1-y0)
		buf := make([]uint8, 3*inW)
		for y := y0; y < y1; y++ {
			copy(src.Pix[3*inW*(y-y0):], rowAt(y, buf))
		}
	}
	if !needV {
		return src
	}
	return resampleV(src, h, vc, y0)
}

// resampleH resamples input rows [y0, y1) to width w.
//
// Red and green share one int64 multiply-add: a row is packed as
// r + g<<32 per pixel, and Σ (r + g<<32)·k = Σ r·k + (Σ g·k)<<32 exactly,
// since each sum fits in int32 as in Pillow; the low lane is read back as a
// signed int32 and its borrow removed from the high lane. Two multiplies per
// tap instead of three (the horizontal pass is most of the resize cost).
func resampleH(inW int, pack packFunc, w, y0, y1 int) *RGB {
	c := precompute(inW, w)
	out := NewRGB(w, y1-y0)
	rg := make([]int64, inW)
	bl := make([]int32, inW)
	const half = int64(1) << (precisionBits - 1)
	for y := y0; y < y1; y++ {
		pack(y, rg, bl)
		dst := out.Pix[(y-y0)*3*w : (y-y0+1)*3*w]
		for xx := 0; xx < w; xx++ {
			xmin, n := c.bounds[2*xx], c.bounds[2*xx+1]
			k := c.k[xx*c.ksize : xx*c.ksize+n]
			prg := rg[xmin : xmin+n]
			pb := bl[xmin : xmin+n]
			prg, pb = prg[:len(k)], pb[:len(k)]
			srg := half | half<<32
			sb := int32(half)
			for j, kv := range k {
				srg += prg[j] * int64(kv)
				sb += pb[j] * kv
			}
			lo := int32(uint32(srg))
			hi := int32((srg - int64(lo)) >> 32)
			d := dst[3*xx : 3*xx+3 : 3*xx+3]
			d[0], d[1], d[2] = clip8(lo), clip8(hi), clip8(sb)
		}
	}
	return out
}

// resampleV resamples src (whose row 0 is input row y0) to height h.
func resampleV(src *RGB, h int, c coeffs, y0 int) *RGB {
	w := src.Width
	stride := 3 * w
	out := NewRGB(w, h)
	if useMAC {
		for yy := 0; yy < h; yy++ {
			ymin, n := c.bounds[2*yy]-y0, c.bounds[2*yy+1]
			macRows(out.Pix[yy*stride:(yy+1)*stride], src.Pix[ymin*stride:], stride, c.k[yy*c.ksize:yy*c.ksize+n])
		}
		return out
	}
	acc := make([]int32, stride)
	for yy := 0; yy < h; yy++ {
		ymin, n := c.bounds[2*yy]-y0, c.bounds[2*yy+1]
		k := c.k[yy*c.ksize : yy*c.ksize+n]
		for i := range acc {
			acc[i] = 1 << (precisionBits - 1)
		}
		// Row-major accumulation: integer sums are exact, so the order
		// differs from Pillow's column loop without changing the result.
		for j, kv := range k {
			row := src.Pix[(ymin+j)*stride : (ymin+j+1)*stride]
			a := acc[:len(row)]
			for i, v := range row {
				a[i] += int32(v) * kv
			}
		}
		dst := out.Pix[yy*stride : (yy+1)*stride]
		for i, v := range acc {
			dst[i] = clip8(v)
		}
	}
	return out
}

// useMAC sends both passes through macRows (AVX2 where the CPU has it);
// otherwise they run the scalar loops above. Tests switch it to compare
// the two, which must agree to the bit.
var useMAC = haveMAC

// macRows is the resize's multiply-add with the taps laid out as rows:
// dst[i] = clip8(½ + Σ_j src[j·stride+i]·k[j]) for every i < len(dst),
// which is one output row of the vertical pass, and one output column of
// the horizontal pass on a transposed image (resampleHT). The sums are the
// same integers as Pillow's, so the result is too.
func macRows(dst, src []uint8, stride int, k []int32) {
	if len(k) == 0 { // no taps: the sum is ½, which clips to 0 (and the kernel needs a tap)
		clear(dst)
		return
	}
	// The vector kernel reads without bounds checks, so it runs only when
	// every row it reads is inside src; the Go loop checks each index.
	if n16 := len(dst) &^ 15; haveMAC && n16 > 0 && len(src) >= (len(k)-1)*stride+len(dst) {
		macRows16(&dst[0], n16, &src[0], stride, &k[0], len(k))
		dst, src = dst[n16:], src[n16:]
	}
	for i := range dst {
		s := int32(1) << (precisionBits - 1)
		for j, kv := range k {
			s += int32(src[j*stride+i]) * kv
		}
		dst[i] = clip8(s)
	}
}

// resampleHT is resampleH done as a vertical pass, a strip of htStrip input
// rows at a time: the strip is transposed so that each input column is one
// contiguous row of 3·htStrip samples, each output column is a macRows over
// the columns its taps read, and the result is transposed back into the
// output rows. Working memory is two strips, whatever the image height.
func resampleHT(inW int, rowAt rowFunc, w, y0, y1 int) *RGB {
	c := precompute(inW, w)
	out := NewRGB(w, y1-y0)
	rows := min(htStrip, y1-y0)
	tr := make([]uint8, inW*3*rows)
	ot := make([]uint8, w*3*rows)
	buf := make([]uint8, 3*inW)
	for s0 := y0; s0 < y1; s0 += rows {
		n := min(rows, y1-s0)
		tw := 3 * n
		for y := s0; y < s0+n; y++ {
			row := rowAt(y, buf)[:3*inW]
			o := 3 * (y - s0)
			for x := 0; x < inW; x++ {
				d := tr[x*tw+o : x*tw+o+3 : x*tw+o+3]
				s := row[3*x : 3*x+3 : 3*x+3]
				d[0], d[1], d[2] = s[0], s[1], s[2]
			}
		}
		for xx := 0; xx < w; xx++ {
			xmin, taps := c.bounds[2*xx], c.bounds[2*xx+1]
			macRows(ot[xx*tw:(xx+1)*tw], tr[xmin*tw:inW*tw], tw, c.k[xx*c.ksize:xx*c.ksize+taps])
		}
		for y := 0; y < n; y++ {
			dst := out.Pix[3*w*(s0-y0+y) : 3*w*(s0-y0+y+1)]
			for xx := 0; xx < w; xx++ {
				s := ot[xx*tw+3*y : xx*tw+3*y+3 : xx*tw+3*y+3]
				d := dst[3*xx : 3*xx+3 : 3*xx+3]
				d[0], d[1], d[2] = s[0], s[1], s[2]
			}
		}
	}
	return out
}

// htStrip is resampleHT's strip height: 64 rows make columns of 192
// samples, twelve vector steps, and keep a strip of a 4,000 px wide photo
// under 1 MB.
const htStrip = 64
