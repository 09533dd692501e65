package preprocess

import "image"

// JPEG colour conversion as libjpeg(-turbo) does it, which is what Pillow
// uses: "fancy" (triangle-filter) chroma upsampling for 4:2:2, 4:2:0 and
// 4:4:0, replication otherwise, then jdcolor.c's fixed-point YCbCr→RGB
// tables. Go's image.YCbCr.At would instead replicate chroma (nearest) and
// round differently. Over the 139 JPEGs of ../shared/data/photos at 384×384
// (TestPhotoParity) the mean difference from Pillow is 0.038 levels (max 4)
// this way, against 0.57 (max 77) through At. The rest is the IDCT (Go's vs
// libjpeg's islow), a level here and there.

var (
	crR, cbB [256]int32
	crG, cbG [256]int32
)

func init() {
	const scaleBits = 16
	const oneHalf = 1 << (scaleBits - 1)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		crR[i] = (fix(1.40200)*x + oneHalf) >> scaleBits
		cbB[i] = (fix(1.77200)*x + oneHalf) >> scaleBits
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + oneHalf
	}
}

// clampTab[v+clampOff] is v clamped to 0..255, for the range the
// conversion can produce (Y plus the largest chroma term, ±227); its size is
// a power of two so that a mask, not a bounds check, keeps the index in.
const clampOff = 256

const clampMask = 1023

var clampTab [clampMask + 1]uint8

func init() {
	for i := range clampTab {
		clampTab[i] = uint8(max(0, min(255, i-clampOff)))
	}
}

// ycbcrToRGB fills out (sized like m) from m.
func ycbcrToRGB(out *RGB, m *image.YCbCr) {
	rc := newYCbCrRows(m, out.Width, out.Height, true)
	for y := 0; y < out.Height; y++ {
		rc.row(y, out.Pix[3*out.Width*y:3*out.Width*(y+1)])
	}
}

// ycbcrRows converts one row at a time, so that a resize can consume rows
// without a full-size RGB copy.
type ycbcrRows struct {
	m              *image.YCbCr
	w, h           int
	hs, vs, cw, ch int
	fancyH, fancyV bool
	cb, cr         []uint8
	tmpB, tmpR     []int32
}

// newYCbCrRows converts m; fancy is libjpeg's do_fancy_upsampling as it
// applies to m (on, except for a 1/8-scaled decode).
func newYCbCrRows(m *image.YCbCr, w, h int, fancy bool) *ycbcrRows {
	// hs, vs: chroma subsampling factors; cw, ch: chroma plane size that
	// holds real (not MCU padding) samples, as libjpeg's downsampled_width.
	hs, vs := 1, 1
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		hs = 2
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		vs = 2
	case image.YCbCrSubsampleRatio411:
		hs = 4
	case image.YCbCrSubsampleRatio410:
		hs, vs = 4, 2
	}
	cw, ch := (w+hs-1)/hs, (h+vs-1)/vs
	return &ycbcrRows{
		m: m, w: w, h: h, hs: hs, vs: vs, cw: cw, ch: ch,
		fancyH: fancy && hs == 2 && cw > 2,
		fancyV: fancy && vs == 2 && (hs == 2 && cw > 2 || hs == 1),
		cb:     make([]uint8, w), cr: make([]uint8, w),
		tmpB: make([]int32, cw), tmpR: make([]int32, cw),
	}
}

// row writes RGB row y (3·w bytes) into dst.
func (rc *ycbcrRows) row(y int, dst []uint8) {
	yrow, cbr, crr := rc.planes(y)
	dst = dst[:3*len(yrow)]
	for x, yy := range yrow {
		Y := int32(yy) + clampOff
		b, r := cbr[x], crr[x]
		d := dst[3*x : 3*x+3 : 3*x+3]
		d[0] = clampTab[uint32(Y+crR[r])&clampMask]
		d[1] = clampTab[uint32(Y+(cbG[b]+crG[r])>>16)&clampMask]
		d[2] = clampTab[uint32(Y+cbB[b])&clampMask]
	}
}

// pack writes RGB row y as the horizontal resize pass reads it: r | g<<32
// in rg and b in bl (len(rg) = len(bl) = w), without a byte row between.
func (rc *ycbcrRows) pack(y int, rg []int64, bl []int32) {
	yrow, cbr, crr := rc.planes(y)
	rg, bl = rg[:len(yrow)], bl[:len(yrow)]
	for x, yy := range yrow {
		Y := int32(yy) + clampOff
		b, r := cbr[x], crr[x]
		rg[x] = int64(clampTab[uint32(Y+crR[r])&clampMask]) | int64(clampTab[uint32(Y+(cbG[b]+crG[r])>>16)&clampMask])<<32
		bl[x] = int32(clampTab[uint32(Y+cbB[b])&clampMask])
	}
}

// planes returns row y's luma and its chroma upsampled to full width.
func (rc *ycbcrRows) planes(y int) (yrow, cb, cr []uint8) {
	m, w := rc.m, rc.w
	cb, cr, tmpB, tmpR := rc.cb, rc.cr, rc.tmpB, rc.tmpR
	cy := y / rc.vs
	switch {
	case rc.fancyV:
		ny := cy - 1 // upper output row of the pair looks up, the lower one down
		if y%2 == 1 {
			ny = cy + 1
		}
		ny = max(0, min(ny, rc.ch-1))
		r0, r1 := cy*m.CStride, ny*m.CStride
		for c := 0; c < rc.cw; c++ {
			tmpB[c] = 3*int32(m.Cb[r0+c]) + int32(m.Cb[r1+c])
			tmpR[c] = 3*int32(m.Cr[r0+c]) + int32(m.Cr[r1+c])
		}
		if rc.fancyH {
			h2v2Row(cb, tmpB, w)
			h2v2Row(cr, tmpR, w)
		} else { // 4:4:0 (h1v2)
			bias := int32(1)
			if y%2 == 1 {
				bias = 2
			}
			for x := 0; x < w; x++ {
				cb[x] = uint8((tmpB[x] + bias) >> 2)
				cr[x] = uint8((tmpR[x] + bias) >> 2)
			}
		}
	case rc.fancyH: // 4:2:2 (h2v1)
		r0 := cy * m.CStride
		h2v1Row(cb, m.Cb[r0:r0+rc.cw], w)
		h2v1Row(cr, m.Cr[r0:r0+rc.cw], w)
	case rc.hs == 1:
		r0 := cy * m.CStride
		cb, cr = m.Cb[r0:r0+w], m.Cr[r0:r0+w]
	default:
		r0 := cy * m.CStride
		for x := 0; x < w; x++ {
			cb[x] = m.Cb[r0+x/rc.hs]
			cr[x] = m.Cr[r0+x/rc.hs]
		}
	}
	yrow = m.Y[y*m.YStride : y*m.YStride+w]
	return yrow, cb[:len(yrow)], cr[:len(yrow)]
}

// h2v2Row is libjpeg's h2v2_fancy_upsample horizontal step over column sums
// s (each 3·near + far row, len(s) ≥ 3), writing the w ≤ 2·len(s) outputs.
func h2v2Row(dst []uint8, s []int32, w int) {
	cw := len(s)
	var tail [2]uint8 // the last pair, which may hang past an odd w
	dst = dst[:w]
	dst[0] = uint8((s[0]*4 + 8) >> 4)
	dst[1] = uint8((s[0]*3 + s[1] + 7) >> 4)
	for c := 1; c < cw-1; c++ {
		d := dst[2*c : 2*c+2 : 2*c+2]
		v := s[c] * 3
		d[0] = uint8((v + s[c-1] + 8) >> 4)
		d[1] = uint8((v + s[c+1] + 7) >> 4)
	}
	c := cw - 1
	tail[0] = uint8((s[c]*3 + s[c-1] + 8) >> 4)
	tail[1] = uint8((s[c]*4 + 7) >> 4)
	copy(dst[2*c:], tail[:])
}

// h2v1Row is libjpeg's h2v1_fancy_upsample for one row of len(in) ≥ 3 samples.
func h2v1Row(dst []uint8, in []uint8, w int) {
	cw := len(in)
	var tail [2]uint8
	dst = dst[:w]
	dst[0] = in[0]
	dst[1] = uint8((int32(in[0])*3 + int32(in[1]) + 2) >> 2)
	for c := 1; c < cw-1; c++ {
		d := dst[2*c : 2*c+2 : 2*c+2]
		v := int32(in[c]) * 3
		d[0] = uint8((v + int32(in[c-1]) + 1) >> 2)
		d[1] = uint8((v + int32(in[c+1]) + 2) >> 2)
	}
	c := cw - 1
	tail[0] = uint8((int32(in[c])*3 + int32(in[c-1]) + 1) >> 2)
	tail[1] = in[c]
	copy(dst[2*c:], tail[:])
}
