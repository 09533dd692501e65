// Copyright 2012 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package jpegscale

// block holds one block's coefficients in natural order.
type block [blockSize]int32

// scanComp is one component of a scan.
type scanComp struct {
	ci     int
	td, ta uint8
}

// processSOS is specified in section B.2.3.
func (d *decoder) processSOS(n int) error {
	if d.nComp == 0 {
		return FormatError("missing SOF marker")
	}
	if n < 6 || 4+2*d.nComp < n || n%2 != 0 {
		return FormatError("SOS has wrong length")
	}
	tmp, err := d.readFull(n)
	if err != nil {
		return err
	}
	nComp := int(tmp[0])
	if n != 4+2*nComp {
		return FormatError("SOS length inconsistent with number of components")
	}
	var scan [maxComponents]scanComp
	totalHV := 0
	for i := 0; i < nComp; i++ {
		cs := tmp[1+2*i]
		ci := -1
		for j, comp := range d.comp[:d.nComp] {
			if cs == comp.c {
				ci = j
			}
		}
		if ci < 0 {
			return FormatError("unknown component selector")
		}
		scan[i].ci = ci
		for j := 0; j < i; j++ {
			if scan[i].ci == scan[j].ci {
				return FormatError("repeated component selector")
			}
		}
		totalHV += d.comp[ci].h * d.comp[ci].v
		scan[i].td = tmp[2+2*i] >> 4
		if t := scan[i].td; t > maxTh || (d.baseline && t > 1) {
			return FormatError("bad Td value")
		}
		scan[i].ta = tmp[2+2*i] & 0x0f
		if t := scan[i].ta; t > maxTh || (d.baseline && t > 1) {
			return FormatError("bad Ta value")
		}
	}
	if d.nComp > 1 && totalHV > 10 {
		return FormatError("total sampling factors too large")
	}
	zigStart, zigEnd, ah, al := int32(0), int32(blockSize-1), uint32(0), uint32(0)
	if d.progressive {
		zigStart = int32(tmp[1+2*nComp])
		zigEnd = int32(tmp[2+2*nComp])
		ah = uint32(tmp[3+2*nComp] >> 4)
		al = uint32(tmp[3+2*nComp] & 0x0f)
		if (zigStart == 0 && zigEnd != 0) || zigStart > zigEnd || blockSize <= zigEnd {
			return FormatError("bad spectral selection bounds")
		}
		if zigStart != 0 && nComp != 1 {
			return FormatError("progressive AC coefficients for more than one component")
		}
		if ah != 0 && ah != al+1 {
			return FormatError("bad successive approximation values")
		}
		if al > 13 {
			return FormatError("bad successive approximation values")
		}
	}
	if !d.allocated {
		if err := d.setup(); err != nil {
			return err
		}
		d.allocate()
		if d.progressive {
			for i := 0; i < d.nComp; i++ {
				c := &d.comp[i]
				d.progCoeffs[i] = make([]int16, blockSize*d.mxx*d.myy*c.h*c.v)
			}
		}
	}
	d.sawSOS = true
	for i := 0; i < nComp; i++ {
		s := scan[i]
		if zigStart == 0 && ah == 0 && d.huff[dcTable][s.td].nCodes == 0 {
			return FormatError("uninitialized Huffman table")
		}
		if zigEnd > 0 && d.huff[acTable][s.ta].nCodes == 0 {
			return FormatError("uninitialized Huffman table")
		}
	}

	d.br = bitReader{data: d.data, pos: d.pos}
	d.eobRun = 0
	var dc [maxComponents]int32
	var b block
	mcu, expectedRST := 0, uint8(rst0Marker)
	// unit decodes (or refines) one block and stores or reconstructs it.
	unit := func(s scanComp, bx, by int) error {
		c := &d.comp[s.ci]
		var coeffs []int16
		if d.progressive {
			off := blockSize * (by*d.mxx*c.h + bx)
			coeffs = d.progCoeffs[s.ci][off : off+blockSize]
			for i, v := range coeffs {
				b[i] = int32(v)
			}
		} else {
			b = block{}
		}
		var err error
		if !d.progressive {
			err = d.decodeSequential(&b, s, &dc[s.ci])
		} else if ah != 0 {
			err = d.refine(&b, &d.huff[acTable][s.ta], zigStart, zigEnd, 1<<al)
		} else {
			err = d.decodeBlock(&b, s, &dc[s.ci], zigStart, zigEnd, al)
		}
		if err != nil {
			return err
		}
		if d.br.short() {
			return errShort
		}
		if d.progressive {
			for i, v := range b {
				coeffs[i] = int16(v)
			}
			return nil
		}
		d.reconstruct(&b, c, bx, by)
		return nil
	}
	restart := func(total int) error {
		mcu++
		if d.ri == 0 || mcu%d.ri != 0 || mcu >= total {
			return nil
		}
		if err := d.findRST(expectedRST); err != nil {
			return err
		}
		expectedRST++
		if expectedRST == rst7Marker+1 {
			expectedRST = rst0Marker
		}
		d.br.reset()
		dc = [maxComponents]int32{}
		d.eobRun = 0
		return nil
	}
	if nComp == 1 {
		// Non-interleaved: one block per MCU, over the component's own
		// block grid (A.2.2).
		s := scan[0]
		c := &d.comp[s.ci]
		bw, bh := d.compBlocks(c)
		for by := 0; by < bh; by++ {
			for bx := 0; bx < bw; bx++ {
				if err := unit(s, bx, by); err != nil {
					return err
				}
				if err := restart(bw * bh); err != nil {
					return err
				}
			}
		}
	} else {
		for my := 0; my < d.myy; my++ {
			for mx := 0; mx < d.mxx; mx++ {
				for i := 0; i < nComp; i++ {
					s := scan[i]
					c := &d.comp[s.ci]
					for j := 0; j < c.h*c.v; j++ {
						if err := unit(s, c.h*mx+j%c.h, c.v*my+j/c.h); err != nil {
							return err
						}
					}
				}
				if err := restart(d.mxx * d.myy); err != nil {
					return err
				}
			}
		}
	}
	// Hand the bytes the bit reader did not use back to the marker loop.
	d.pos = d.br.pos
	return nil
}

// compBlocks is the number of blocks across and down that hold a
// component's real samples.
func (d *decoder) compBlocks(c *component) (int, int) {
	cw := (d.width*c.h + d.maxH - 1) / d.maxH
	ch := (d.height*c.v + d.maxV - 1) / d.maxV
	return (cw + 7) / 8, (ch + 7) / 8
}

// findRST advances past the restart marker that must follow the bits of a
// restart interval. Like image/jpeg it tolerates stray bytes before it
// but fails on any other marker.
func (d *decoder) findRST(expected uint8) error {
	p := d.br.pos
	for {
		if p+1 >= len(d.data) {
			return errShort
		}
		if d.data[p] == 0xff {
			switch m := d.data[p+1]; {
			case m == expected:
				d.br.pos = p + 2
				return nil
			case m == 0xff || m == 0x00:
				p++
				continue
			default:
				return FormatError("bad RST marker")
			}
		}
		p++
	}
}

// decodeSequential decodes a block of a sequential scan: decodeBlock for
// the whole band with no shift, no end-of-band runs, and the common case
// (a run/size symbol and its extra bits within lutBits) in one lookup.
func (d *decoder) decodeSequential(b *block, s scanComp, dc *int32) error {
	br := &d.br
	if br.n < 2*maxCodeLength {
		br.fill()
	}
	dct := &d.huff[dcTable][s.td&maxTh]
	if v := dct.lut[br.acc>>(64-lutBits)]; v != 0 && v>>8 <= 16 {
		// The DC code and its extra bits, both already in the accumulator.
		l, size := uint(v&0xff), uint(v>>8)
		acc := br.acc << l
		x := int32(0)
		if size > 0 {
			x = int32(acc >> (64 - size))
			if x < 1<<(size-1) {
				x += (-1 << size) + 1
			}
		}
		br.acc = acc << size
		br.n -= l + size
		*dc += x
	} else {
		value, err := br.decodeHuffman(dct)
		if err != nil {
			return err
		}
		if value > 16 {
			return UnsupportedError("excessive DC component")
		}
		*dc += br.receiveExtend(value)
	}
	b[0] = *dc
	huff := &d.huff[acTable][s.ta&maxTh]
	acc, n := br.acc, br.n
	for zig := uint32(1); zig < blockSize; zig++ {
		if n < 2*lutBits {
			br.acc, br.n = acc, n
			br.fill()
			acc, n = br.acc, br.n
		}
		if e := huff.ac[acc>>(64-lutBits)]; e != 0 {
			l := uint(e & 0xff)
			acc <<= l
			n -= l
			run := uint32(e>>8) & 0xff
			if run == acEOB {
				break
			}
			zig += run
			b[unzig[zig&63]&63] = e >> 16
			continue
		}
		br.acc, br.n = acc, n
		value, err := br.decodeHuffman(huff)
		if err != nil {
			return err
		}
		val0 := uint32(value >> 4)
		val1 := value & 0x0f
		if val1 != 0 {
			zig += val0
			if zig >= blockSize {
				break
			}
			b[unzig[zig&63]&63] = br.receiveExtend(val1)
			acc, n = br.acc, br.n
			continue
		}
		acc, n = br.acc, br.n
		if val0 != 0x0f {
			break
		}
		zig += 0x0f
	}
	br.acc, br.n = acc, n
	return nil
}

// decodeBlock decodes a sequential block, or a progressive first scan
// (DC or an AC band), as in F.2.2 and G.1.2.
func (d *decoder) decodeBlock(b *block, s scanComp, dc *int32, zigStart, zigEnd int32, al uint32) error {
	br := &d.br
	zig := zigStart
	if zig == 0 {
		zig++
		value, err := br.decodeHuffman(&d.huff[dcTable][s.td&maxTh])
		if err != nil {
			return err
		}
		if value > 16 {
			return UnsupportedError("excessive DC component")
		}
		*dc += br.receiveExtend(value)
		b[0] = *dc << al
	}
	if zig > zigEnd {
		return nil
	}
	if d.eobRun > 0 {
		d.eobRun--
		return nil
	}
	huff := &d.huff[acTable][s.ta&maxTh]
	for ; zig <= zigEnd; zig++ {
		if br.n < maxCodeLength {
			br.fill()
		}
		if e := huff.ac[br.acc>>(64-lutBits)]; e != 0 {
			n := uint(e & 0xff)
			br.acc <<= n
			br.n -= n
			zig += (e >> 8) & 0xff
			if zig > zigEnd {
				break
			}
			b[unzig[zig&63]&63] = (e >> 16) << al
			continue
		}
		value, err := br.decodeHuffman(huff)
		if err != nil {
			return err
		}
		val0 := value >> 4
		val1 := value & 0x0f
		if val1 != 0 {
			zig += int32(val0)
			if zig > zigEnd {
				break
			}
			b[unzig[zig&63]&63] = br.receiveExtend(val1) << al
			continue
		}
		if val0 != 0x0f {
			d.eobRun = uint16(1 << val0)
			if val0 != 0 {
				d.eobRun |= uint16(br.bits(uint(val0)))
			}
			d.eobRun--
			break
		}
		zig += 0x0f
	}
	return nil
}

// refine decodes a successive approximation refinement block (G.1.2).
func (d *decoder) refine(b *block, h *huffman, zigStart, zigEnd, delta int32) error {
	br := &d.br
	if zigStart == 0 {
		if zigEnd != 0 {
			return FormatError("bad spectral selection bounds")
		}
		if br.bit() {
			b[0] |= delta
		}
		return nil
	}
	zig := zigStart
	if d.eobRun == 0 {
	loop:
		for ; zig <= zigEnd; zig++ {
			z := int32(0)
			value, err := br.decodeHuffman(h)
			if err != nil {
				return err
			}
			val0 := value >> 4
			val1 := value & 0x0f
			switch val1 {
			case 0:
				if val0 != 0x0f {
					d.eobRun = uint16(1 << val0)
					if val0 != 0 {
						d.eobRun |= uint16(br.bits(uint(val0)))
					}
					break loop
				}
			case 1:
				z = delta
				if !br.bit() {
					z = -z
				}
			default:
				return FormatError("unexpected Huffman code")
			}
			zig = d.refineNonZeroes(b, zig, zigEnd, int32(val0), delta)
			if zig > zigEnd {
				return FormatError("too many coefficients")
			}
			if z != 0 {
				b[unzig[zig]] = z
			}
		}
	}
	if d.eobRun > 0 {
		d.eobRun--
		d.refineNonZeroes(b, zig, zigEnd, -1, delta)
	}
	return nil
}

// refineNonZeroes refines the non-zero entries of b in zig-zag order,
// skipping the first nz zero entries when nz ≥ 0.
func (d *decoder) refineNonZeroes(b *block, zig, zigEnd, nz, delta int32) int32 {
	for ; zig <= zigEnd; zig++ {
		u := unzig[zig]
		if b[u] == 0 {
			if nz == 0 {
				break
			}
			nz--
			continue
		}
		if !d.br.bit() {
			continue
		}
		if b[u] >= 0 {
			b[u] += delta
		} else {
			b[u] -= delta
		}
	}
	return zig
}

// reconstructProgressiveImage runs the IDCT over every stored block.
func (d *decoder) reconstructProgressiveImage() {
	var b block
	for i := 0; i < d.nComp; i++ {
		c := &d.comp[i]
		bw, bh := d.compBlocks(c)
		stride := d.mxx * c.h
		for by := 0; by < bh; by++ {
			for bx := 0; bx < bw; bx++ {
				off := blockSize * (by*stride + bx)
				for j, v := range d.progCoeffs[i][off : off+blockSize] {
					b[j] = int32(v)
				}
				d.reconstruct(&b, c, bx, by)
			}
		}
	}
}

// reconstruct dequantizes b, runs the component's IDCT and stores it.
func (d *decoder) reconstruct(b *block, c *component, bx, by int) {
	q := &d.quant[c.tq]
	k := c.k
	dst := c.plane[(by*k)*c.stride+bx*k:]
	switch k {
	case 8:
		idct8(b, q, dst, c.stride)
	case 4:
		idct4(b, q, dst, c.stride)
	case 2:
		idct2(b, q, dst, c.stride)
	default:
		idct1(b, q, dst)
	}
}
