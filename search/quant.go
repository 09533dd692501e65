package search

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Quantizer maps unit vectors to int8 codes, one per dimension, for an
// index that keeps codes in memory instead of float32 vectors
// (Options.Quantizer): 1 byte per dimension instead of 4. Dimension d is
// stored as off[d] + step[d]·c with c in [−127, 127], where off and step
// span the range of that dimension over a training sample (TrainQuantizer);
// values outside the range are clamped.
//
// A query q is scored against a code c as q·off + α·(qc·c): q·step is
// itself quantised to int8 codes qc with one scale α, so the sum is an
// int8×int8 dot product in int32 (distance_i8.go), and q·off is a constant
// per query that ranking ignores but the estimate keeps, so estimated
// scores are comparable with exact ones.
//
// A Quantizer is immutable and safe for concurrent use.
type Quantizer struct {
	off, step []float32
	inv       []float32 // 1/step: encode multiplies (dividing was most of opening a quantised store)
}

// TrainQuantizer learns per-dimension ranges from sample (each vector is
// normalised first, as the index normalises what it stores). The sample
// should be drawn from the data the index will hold; a few thousand
// vectors are plenty. It fails with ErrInvalidOptions for an empty sample,
// ErrDimension for vectors of mixed lengths and ErrInvalidVector for a
// vector that cannot be normalised.
func TrainQuantizer(sample [][]float32) (*Quantizer, error) {
	if len(sample) == 0 || len(sample[0]) == 0 || len(sample[0]) > 65536 {
		return nil, fmt.Errorf("train quantizer on %d vectors: %w", len(sample), ErrInvalidOptions)
	}
	dim := len(sample[0])
	norm := &Index{dim: dim}
	lo := make([]float32, dim)
	hi := make([]float32, dim)
	for i := range lo {
		lo[i], hi[i] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	var buf []float32
	for i, v := range sample {
		u, err := norm.normaliseInto(buf, v)
		if err != nil {
			return nil, fmt.Errorf("train quantizer, vector %d: %w", i, err)
		}
		buf = u
		for d, f := range u {
			lo[d] = min(lo[d], f)
			hi[d] = max(hi[d], f)
		}
	}
	z := &Quantizer{off: make([]float32, dim), step: make([]float32, dim)}
	for d := range lo {
		z.off[d] = (lo[d] + hi[d]) / 2
		// A constant dimension gets any positive step: its codes are 0.
		z.step[d] = max((hi[d]-lo[d])/254, 1e-12)
	}
	z.setInv()
	return z, nil
}

func (z *Quantizer) setInv() {
	z.inv = make([]float32, len(z.step))
	for d, s := range z.step {
		z.inv[d] = 1 / s
	}
}

// Dim returns the vector dimension the Quantizer was trained on.
func (z *Quantizer) Dim() int { return len(z.off) }

// code is the code of value f in dimension d.
func (z *Quantizer) code(d int, f float32) int8 {
	return codeOf((f - z.off[d]) * z.inv[d])
}

// encode writes v's codes (v is unit-length, len Dim) to dst.
func (z *Quantizer) encode(dst []int8, v []float32) {
	dst = dst[:len(v)]
	for d, f := range v {
		dst[d] = z.code(d, f)
	}
}

// encodeLE is encode of a unit vector given as little-endian float32
// bytes (a Restorer's input), without decoding it to a slice first.
func (z *Quantizer) encodeLE(dst []int8, raw []byte) {
	dst = dst[:len(z.off)]
	for d := range dst {
		dst[d] = z.code(d, math.Float32frombits(binary.LittleEndian.Uint32(raw[4*d:])))
	}
}

// decode returns the vector c stands for, in dst's storage when it fits.
func (z *Quantizer) decode(dst []float32, c []int8) []float32 {
	if cap(dst) < len(c) {
		dst = make([]float32, len(c))
	}
	dst = dst[:len(c)]
	for d, b := range c {
		dst[d] = z.off[d] + z.step[d]*float32(b)
	}
	return dst
}

// qquery is a query prepared for scoring codes: est = base + alpha·(c·code).
type qquery struct {
	c     []int8
	alpha float32
	base  float32
}

// prepare sets p for query q (len Dim), reusing p's storage. It runs once
// per search, so its loops avoid the float min/max builtins (NaN-aware and
// branchy) and keep four partial sums.
func (z *Quantizer) prepare(p *qquery, q []float32) {
	if cap(p.c) < len(q) {
		p.c = make([]int8, len(q))
	}
	p.c = p.c[:len(q)]
	off, step := z.off[:len(q)], z.step[:len(q)]
	var b0, b1, b2, b3 float64
	var amax float32
	d := 0
	for ; d+4 <= len(q); d += 4 {
		b0 += float64(q[d]) * float64(off[d])
		b1 += float64(q[d+1]) * float64(off[d+1])
		b2 += float64(q[d+2]) * float64(off[d+2])
		b3 += float64(q[d+3]) * float64(off[d+3])
	}
	for ; d < len(q); d++ {
		b0 += float64(q[d]) * float64(off[d])
	}
	for d, f := range q {
		if a := abs32(f * step[d]); a > amax {
			amax = a
		}
	}
	p.base = float32(b0 + b1 + b2 + b3)
	if !(amax > 0) {
		clear(p.c)
		p.alpha = 0
		return
	}
	p.alpha = amax / 127
	inv := 1 / p.alpha
	for d, f := range q {
		// |f·step·inv| ≤ 127 up to rounding.
		p.c[d] = codeOf(f * step[d] * inv)
	}
}

// est converts an int8 dot product with p.c into an estimated similarity.
func (p *qquery) est(dot int32) float32 { return p.base + p.alpha*float32(dot) }

// codeOf rounds r half away from zero and clamps it to a code in
// [−127, 127]. It adds ±0.5 by copying r's sign bit rather than branching
// on the sign, which is a coin toss per dimension (a mispredicted branch
// every other value was most of encoding a vector and of preparing a
// query), and clamps before converting, so no value overflows int32.
func codeOf(r float32) int8 {
	r += math.Float32frombits(0x3f000000 | math.Float32bits(r)&(1<<31))
	if r > 127 {
		r = 127
	} else if r < -127 {
		r = -127
	}
	return int8(int32(r))
}

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }

// Ranges returns copies of the Quantizer's per-dimension offsets and
// steps, the whole of its state: a store persists them so that an index
// reopened later encodes its vectors the same way (NewQuantizer).
func (z *Quantizer) Ranges() (off, step []float32) {
	return append([]float32(nil), z.off...), append([]float32(nil), z.step...)
}

// NewQuantizer rebuilds a Quantizer from Ranges. It fails with
// ErrInvalidOptions for lengths that differ or are out of range, and for
// a step that is not positive and finite or an offset that is not finite.
func NewQuantizer(off, step []float32) (*Quantizer, error) {
	if len(off) == 0 || len(off) > 65536 || len(off) != len(step) {
		return nil, fmt.Errorf("quantizer of %d offsets and %d steps: %w", len(off), len(step), ErrInvalidOptions)
	}
	for d := range off {
		o, s := float64(off[d]), float64(step[d])
		if math.IsNaN(o) || math.IsInf(o, 0) || !(s > 0) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("quantizer dimension %d: offset %v, step %v: %w", d, o, s, ErrInvalidOptions)
		}
	}
	z := &Quantizer{off: append([]float32(nil), off...), step: append([]float32(nil), step...)}
	z.setInv()
	return z, nil
}
