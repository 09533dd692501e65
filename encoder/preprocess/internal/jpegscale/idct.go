package jpegscale

// The inverse DCTs of libjpeg(-turbo), which Pillow uses: jidctint.c's
// jpeg_idct_islow (8×8, the default JDCT_ISLOW) and jidctred.c's
// jpeg_idct_4x4, jpeg_idct_2x2 and jpeg_idct_1x1, which produce a reduced
// block straight from the 8×8 coefficients. They are transcribed with the
// same constants, operation order and descaling, so each output sample
// is the one libjpeg computes. Their zero-AC shortcuts are kept: they give
// the same values as the full expressions and save time.
//
// Coefficients are int16 (libjpeg's JCOEF) before dequantization; the
// first pass stores 32-bit ints, the second uses 64-bit temporaries
// (JLONG on 64-bit Linux). Results go through libjpeg's post-IDCT range
// limit table, which clamps to 0..255 and wraps far-out values the same
// way.

const (
	constBits = 13
	pass1Bits = 2

	fix0_211164243 = 1730
	fix0_298631336 = 2446
	fix0_390180644 = 3196
	fix0_509795579 = 4176
	fix0_541196100 = 4433
	fix0_601344887 = 4926
	fix0_720959822 = 5906
	fix0_765366865 = 6270
	fix0_850430095 = 6967
	fix0_899976223 = 7373
	fix1_061594337 = 8697
	fix1_175875602 = 9633
	fix1_272758580 = 10426
	fix1_451774981 = 11893
	fix1_501321110 = 12299
	fix1_847759065 = 15137
	fix1_961570560 = 16069
	fix2_053119869 = 16819
	fix2_172734803 = 17799
	fix2_562915447 = 20995
	fix3_072711026 = 25172
	fix3_624509785 = 29692
)

// rangeLimit is libjpeg's IDCT_range_limit table indexed by x & 1023:
// x+128 clamped to 0..255 for |x| < 512.
var rangeLimit [1024]uint8

func init() {
	for i := range rangeLimit {
		switch {
		case i < 128:
			rangeLimit[i] = uint8(i + 128)
		case i < 512:
			rangeLimit[i] = 255
		case i < 896:
			rangeLimit[i] = 0
		default:
			rangeLimit[i] = uint8(i - 896)
		}
	}
}

// descale is libjpeg's DESCALE: round, then arithmetic shift right.
func descale(x int64, n uint) int64 { return (x + 1<<(n-1)) >> n }

func limit(x int64) uint8 { return rangeLimit[x&1023] }

// dq dequantizes coefficient i.
func dq(b *block, q *[blockSize]int32, i int) int64 {
	return int64(int32(int16(b[i])) * q[i])
}

// idct8 is jpeg_idct_islow.
func idct8(b *block, q *[blockSize]int32, dst []byte, stride int) {
	var ws [blockSize]int32
	for col := 0; col < 8; col++ {
		if b[8+col] == 0 && b[16+col] == 0 && b[24+col] == 0 && b[32+col] == 0 &&
			b[40+col] == 0 && b[48+col] == 0 && b[56+col] == 0 {
			dc := int32(dq(b, q, col) << pass1Bits)
			for r := 0; r < 8; r++ {
				ws[8*r+col] = dc
			}
			continue
		}
		z2 := dq(b, q, 16+col)
		z3 := dq(b, q, 48+col)
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 + z3*-fix1_847759065
		tmp3 := z1 + z2*fix0_765366865
		z2 = dq(b, q, col)
		z3 = dq(b, q, 32+col)
		tmp0 := (z2 + z3) << constBits
		tmp1 := (z2 - z3) << constBits
		tmp10 := tmp0 + tmp3
		tmp13 := tmp0 - tmp3
		tmp11 := tmp1 + tmp2
		tmp12 := tmp1 - tmp2

		tmp3 = dq(b, q, 8+col)
		tmp2 = dq(b, q, 24+col)
		tmp1 = dq(b, q, 40+col)
		tmp0 = dq(b, q, 56+col)
		z4 := tmp1 + tmp3
		z3 = tmp0 + tmp2
		z2 = tmp1 + tmp2
		z1 = tmp0 + tmp3
		z5 := (z3 + z4) * fix1_175875602
		tmp3 *= fix1_501321110
		tmp2 *= fix3_072711026
		tmp1 *= fix2_053119869
		tmp0 *= fix0_298631336
		z4 = z4*-fix0_390180644 + z5
		z3 = z3*-fix1_961570560 + z5
		z1 *= -fix0_899976223
		z2 *= -fix2_562915447
		tmp3 += z1 + z4
		tmp2 += z2 + z3
		tmp1 += z2 + z4
		tmp0 += z1 + z3
		const s = constBits - pass1Bits
		ws[0*8+col] = int32(descale(tmp10+tmp3, s))
		ws[1*8+col] = int32(descale(tmp11+tmp2, s))
		ws[2*8+col] = int32(descale(tmp12+tmp1, s))
		ws[3*8+col] = int32(descale(tmp13+tmp0, s))
		ws[4*8+col] = int32(descale(tmp13-tmp0, s))
		ws[5*8+col] = int32(descale(tmp12-tmp1, s))
		ws[6*8+col] = int32(descale(tmp11-tmp2, s))
		ws[7*8+col] = int32(descale(tmp10-tmp3, s))
	}
	for r := 0; r < 8; r++ {
		w := ws[8*r : 8*r+8 : 8*r+8]
		out := dst[r*stride : r*stride+8 : r*stride+8]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			v := limit(descale(int64(w[0]), pass1Bits+3))
			for i := range out {
				out[i] = v
			}
			continue
		}
		z2 := int64(w[2])
		z3 := int64(w[6])
		z1 := (z2 + z3) * fix0_541196100
		tmp0 := (int64(w[0]) + int64(w[4])) << constBits
		tmp3 := z1 + z2*fix0_765366865
		tmp1 := (int64(w[0]) - int64(w[4])) << constBits
		tmp2 := z1 + z3*-fix1_847759065
		tmp10 := tmp0 + tmp3
		tmp13 := tmp0 - tmp3
		tmp11 := tmp1 + tmp2
		tmp12 := tmp1 - tmp2

		tmp3 = int64(w[1])
		tmp2 = int64(w[3])
		tmp1 = int64(w[5])
		tmp0 = int64(w[7])
		z4 := tmp1 + tmp3
		z3 = tmp0 + tmp2
		z2 = tmp1 + tmp2
		z1 = tmp0 + tmp3
		z5 := (z3 + z4) * fix1_175875602
		tmp3 *= fix1_501321110
		tmp2 *= fix3_072711026
		tmp1 *= fix2_053119869
		tmp0 *= fix0_298631336
		z4 = z4*-fix0_390180644 + z5
		z3 = z3*-fix1_961570560 + z5
		z2 *= -fix2_562915447
		z1 *= -fix0_899976223
		tmp3 += z1 + z4
		tmp2 += z2 + z3
		tmp1 += z2 + z4
		tmp0 += z1 + z3
		const s = constBits + pass1Bits + 3
		out[0] = limit(descale(tmp10+tmp3, s))
		out[1] = limit(descale(tmp11+tmp2, s))
		out[2] = limit(descale(tmp12+tmp1, s))
		out[3] = limit(descale(tmp13+tmp0, s))
		out[4] = limit(descale(tmp13-tmp0, s))
		out[5] = limit(descale(tmp12-tmp1, s))
		out[6] = limit(descale(tmp11-tmp2, s))
		out[7] = limit(descale(tmp10-tmp3, s))
	}
}

// idct4 is jpeg_idct_4x4: a 4×4 block from the 8×8 coefficients (row and
// column 4 are not needed).
func idct4(b *block, q *[blockSize]int32, dst []byte, stride int) {
	var ws [8 * 4]int32
	for col := 0; col < 8; col++ {
		if col == 4 {
			continue
		}
		if b[8+col] == 0 && b[16+col] == 0 && b[24+col] == 0 && b[40+col] == 0 &&
			b[48+col] == 0 && b[56+col] == 0 {
			dc := int32(dq(b, q, col) << pass1Bits)
			ws[col], ws[8+col], ws[16+col], ws[24+col] = dc, dc, dc, dc
			continue
		}
		tmp0 := dq(b, q, col) << (constBits + 1)
		z2 := dq(b, q, 16+col)
		z3 := dq(b, q, 48+col)
		tmp2 := z2*fix1_847759065 + z3*-fix0_765366865
		tmp10 := tmp0 + tmp2
		tmp12 := tmp0 - tmp2

		z1 := dq(b, q, 56+col)
		z2 = dq(b, q, 40+col)
		z3 = dq(b, q, 24+col)
		z4 := dq(b, q, 8+col)
		tmp0 = z1*-fix0_211164243 + z2*fix1_451774981 + z3*-fix2_172734803 + z4*fix1_061594337
		tmp2 = z1*-fix0_509795579 + z2*-fix0_601344887 + z3*fix0_899976223 + z4*fix2_562915447
		const s = constBits - pass1Bits + 1
		ws[0*8+col] = int32(descale(tmp10+tmp2, s))
		ws[3*8+col] = int32(descale(tmp10-tmp2, s))
		ws[1*8+col] = int32(descale(tmp12+tmp0, s))
		ws[2*8+col] = int32(descale(tmp12-tmp0, s))
	}
	for r := 0; r < 4; r++ {
		w := ws[8*r : 8*r+8 : 8*r+8]
		out := dst[r*stride : r*stride+4 : r*stride+4]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			v := limit(descale(int64(w[0]), pass1Bits+3))
			out[0], out[1], out[2], out[3] = v, v, v, v
			continue
		}
		tmp0 := int64(w[0]) << (constBits + 1)
		tmp2 := int64(w[2])*fix1_847759065 + int64(w[6])*-fix0_765366865
		tmp10 := tmp0 + tmp2
		tmp12 := tmp0 - tmp2

		z1 := int64(w[7])
		z2 := int64(w[5])
		z3 := int64(w[3])
		z4 := int64(w[1])
		tmp0 = z1*-fix0_211164243 + z2*fix1_451774981 + z3*-fix2_172734803 + z4*fix1_061594337
		tmp2 = z1*-fix0_509795579 + z2*-fix0_601344887 + z3*fix0_899976223 + z4*fix2_562915447
		const s = constBits + pass1Bits + 3 + 1
		out[0] = limit(descale(tmp10+tmp2, s))
		out[3] = limit(descale(tmp10-tmp2, s))
		out[1] = limit(descale(tmp12+tmp0, s))
		out[2] = limit(descale(tmp12-tmp0, s))
	}
}

// idct2 is jpeg_idct_2x2 (only columns and rows 0, 1, 3, 5, 7 matter).
// Its zero-AC shortcuts are left out: they give the same values, and on
// photos the branches cost more than they save.
func idct2(b *block, q *[blockSize]int32, dst []byte, stride int) {
	var ws [2][5]int64
	for i, col := range [5]int{0, 1, 3, 5, 7} {
		tmp10 := dq(b, q, col) << (constBits + 2)
		tmp0 := dq(b, q, 56+col)*-fix0_720959822 + dq(b, q, 40+col)*fix0_850430095 +
			dq(b, q, 24+col)*-fix1_272758580 + dq(b, q, 8+col)*fix3_624509785
		const s = constBits - pass1Bits + 2
		// Pass 1 stores ints (32 bits) in libjpeg.
		ws[0][i] = int64(int32(descale(tmp10+tmp0, s)))
		ws[1][i] = int64(int32(descale(tmp10-tmp0, s)))
	}
	for r := 0; r < 2; r++ {
		w := &ws[r]
		out := dst[r*stride : r*stride+2 : r*stride+2]
		tmp10 := w[0] << (constBits + 2)
		tmp0 := w[4]*-fix0_720959822 + w[3]*fix0_850430095 + w[2]*-fix1_272758580 + w[1]*fix3_624509785
		const s = constBits + pass1Bits + 3 + 2
		out[0] = limit(descale(tmp10+tmp0, s))
		out[1] = limit(descale(tmp10-tmp0, s))
	}
}

// idct1 is jpeg_idct_1x1: the DC term alone.
func idct1(b *block, q *[blockSize]int32, dst []byte) {
	dst[0] = limit(descale(int64(int32(dq(b, q, 0))), 3))
}
