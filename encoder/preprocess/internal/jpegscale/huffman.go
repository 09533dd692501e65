// Copyright 2009 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package jpegscale

import "encoding/binary"

const (
	maxCodeLength = 16
	maxNCodes     = 256
	// lutBits is the look-ahead of the Huffman tables: codes up to this
	// long (nearly all of them in practice) decode with one lookup.
	lutBits = 10
	// acEOB is the run field of an end-of-block entry in huffman.ac.
	acEOB = 0xff
)

// huffman is a Huffman decoder, specified in section C.
type huffman struct {
	nCodes int32
	// lut maps the next lutBits bits to value<<8 | code length, or 0 when
	// the code is longer.
	lut [1 << lutBits]uint16
	// ac maps the next lutBits bits, for an AC table, to a whole
	// run/size symbol with its extra bits when both fit: the extended
	// coefficient value<<16 | run<<8 | bits used; an end of block as
	// acEOB<<8 | code length; 0 otherwise.
	ac          [1 << lutBits]int32
	vals        [maxNCodes]uint8
	minCodes    [maxCodeLength]int32
	maxCodes    [maxCodeLength]int32
	valsIndices [maxCodeLength]int32
}

// bitReader reads the entropy-coded data MSB first from a 64-bit
// accumulator refilled several bytes at a time; byte stuffing (0xff 0x00)
// is removed as it fills. At a marker or the end of the data it feeds
// zero bits, as libjpeg does, but counts them (virt): a block that used
// any is short data, which is an error here as in image/jpeg.
type bitReader struct {
	acc  uint64 // unread bits, left-aligned
	n    uint   // number of unread bits in acc
	virt uint   // how many of the lowest of those n bits are padding
	pos  int    // next byte of data
	data []byte
}

// fill tops the accumulator up to at least 57 bits.
func (br *bitReader) fill() {
	if br.virt == 0 && br.pos+8 <= len(br.data) {
		x := binary.BigEndian.Uint64(br.data[br.pos:])
		// No 0xff byte among the 8: take whole bytes at once.
		if y := ^x; (y-0x0101010101010101)&^y&0x8080808080808080 == 0 {
			k := (64 - br.n) >> 3
			br.acc |= x >> (64 - 8*k) << (64 - br.n - 8*k)
			br.n += 8 * k
			br.pos += int(k)
			return
		}
	}
	for br.n <= 56 {
		var c byte
		if br.virt == 0 && br.pos < len(br.data) {
			c = br.data[br.pos]
			if c == 0xff {
				if br.pos+1 < len(br.data) && br.data[br.pos+1] == 0 {
					br.pos += 2
				} else {
					// A marker: stop before it and pad.
					c = 0
					br.virt += 8
				}
			} else {
				br.pos++
			}
		} else {
			br.virt += 8
		}
		br.acc |= uint64(c) << (56 - br.n)
		br.n += 8
	}
}

// short reports whether padding bits were consumed.
func (br *bitReader) short() bool { return br.n < br.virt }

// reset drops the buffered bits, at a restart marker.
func (br *bitReader) reset() {
	br.acc, br.n, br.virt = 0, 0, 0
}

// receiveExtend is RECEIVE and EXTEND (F.2.2.1) for t ≤ 16 bits.
func (br *bitReader) receiveExtend(t uint8) int32 {
	if t == 0 {
		return 0
	}
	if br.n < uint(t) {
		br.fill()
	}
	x := int32(br.acc >> (64 - uint(t)))
	br.acc <<= t
	br.n -= uint(t)
	if x < 1<<(t-1) {
		x += (-1 << t) + 1
	}
	return x
}

// bits reads n ≤ 16 raw bits.
func (br *bitReader) bits(n uint) uint32 {
	if n == 0 {
		return 0
	}
	if br.n < n {
		br.fill()
	}
	x := uint32(br.acc >> (64 - n))
	br.acc <<= n
	br.n -= n
	return x
}

func (br *bitReader) bit() bool {
	if br.n == 0 {
		br.fill()
	}
	x := br.acc>>63 != 0
	br.acc <<= 1
	br.n--
	return x
}

// decodeHuffman returns the next Huffman-coded value.
func (br *bitReader) decodeHuffman(h *huffman) (uint8, error) {
	if h.nCodes == 0 {
		return 0, FormatError("uninitialized Huffman table")
	}
	if br.n < maxCodeLength {
		br.fill()
	}
	if v := h.lut[br.acc>>(64-lutBits)]; v != 0 {
		n := uint(v & 0xff)
		br.acc <<= n
		br.n -= n
		return uint8(v >> 8), nil
	}
	code := int32(br.acc >> (64 - lutBits))
	for i := lutBits; i < maxCodeLength; i++ {
		code = code<<1 | int32(br.acc>>(63-uint(i))&1)
		if code <= h.maxCodes[i] && code >= h.minCodes[i] {
			br.acc <<= uint(i + 1)
			br.n -= uint(i + 1)
			return h.vals[h.valsIndices[i]+code-h.minCodes[i]], nil
		}
	}
	return 0, FormatError("bad Huffman code")
}

// processDHT is specified in section B.2.4.2.
func (d *decoder) processDHT(n int) error {
	for n > 0 {
		if n < 17 {
			return FormatError("DHT has wrong length")
		}
		tmp, err := d.readFull(17)
		if err != nil {
			return err
		}
		tc := tmp[0] >> 4
		if tc > maxTc {
			return FormatError("bad Tc value")
		}
		th := tmp[0] & 0x0f
		if th > maxTh || (d.baseline && th > 1) {
			return FormatError("bad Th value")
		}
		h := &d.huff[tc][th]
		h.nCodes = 0
		var nCodes [maxCodeLength]int32
		for i := range nCodes {
			nCodes[i] = int32(tmp[i+1])
			h.nCodes += nCodes[i]
		}
		if h.nCodes == 0 {
			return FormatError("Huffman table has zero length")
		}
		if h.nCodes > maxNCodes {
			return FormatError("Huffman table has excessive length")
		}
		n -= int(h.nCodes) + 17
		if n < 0 {
			return FormatError("DHT has wrong length")
		}
		vals, err := d.readFull(int(h.nCodes))
		if err != nil {
			return err
		}
		copy(h.vals[:], vals)

		clear(h.lut[:])
		clear(h.ac[:])
		var x, code uint32
		for i := uint32(0); i < lutBits; i++ {
			code <<= 1
			for j := int32(0); j < nCodes[i]; j++ {
				if code >= 1<<(i+1) {
					// Over-subscribed table: the codes no longer fit; the
					// slow path reports them.
					break
				}
				length := i + 1
				base := code << (lutBits - length)
				val := h.vals[x]
				for k := uint32(0); k < 1<<(lutBits-length); k++ {
					h.lut[base|k] = uint16(val)<<8 | uint16(length)
					if tc == acTable {
						run, size := uint32(val>>4), uint32(val&0x0f)
						if size != 0 && length+size <= lutBits {
							extra := int32((base | k) >> (lutBits - length - size) & (1<<size - 1))
							if extra < 1<<(size-1) {
								extra += (-1 << size) + 1
							}
							h.ac[base|k] = extra<<16 | int32(run)<<8 | int32(length+size)
						} else if val == 0x00 {
							// End of block: every block of a sequential scan
							// ends with one, so it gets a fast entry too. A run
							// of acEOB takes zig past any band's end.
							h.ac[base|k] = acEOB<<8 | int32(length)
						}
					}
				}
				code++
				x++
			}
		}

		var c, index int32
		for i, n := range nCodes {
			if n == 0 {
				h.minCodes[i] = -1
				h.maxCodes[i] = -1
				h.valsIndices[i] = -1
			} else {
				h.minCodes[i] = c
				h.maxCodes[i] = c + n - 1
				h.valsIndices[i] = index
				c += n
				index += n
			}
			c <<= 1
		}
	}
	return nil
}
