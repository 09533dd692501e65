// Package synth generates the deterministic clustered unit vectors used by
// the search tests and the ANN benchmark: centres are random unit vectors,
// each point is a centre plus N(0, sigma²/dim) per component, normalised.
package synth

import (
	"math"
	"math/rand/v2"
)

// Clustered returns n points of dimension dim around centres random unit
// centres, with per-component noise sigma/sqrt(dim), each normalised to
// unit length. The same arguments always give the same vectors.
func Clustered(n, dim, centres int, sigma float64, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	cs := make([][]float64, centres)
	for i := range cs {
		c := make([]float64, dim)
		var ss float64
		for j := range c {
			c[j] = r.NormFloat64()
			ss += c[j] * c[j]
		}
		inv := 1 / math.Sqrt(ss)
		for j := range c {
			c[j] *= inv
		}
		cs[i] = c
	}
	sd := sigma / math.Sqrt(float64(dim))
	out := make([][]float32, n)
	buf := make([]float64, dim)
	for i := range out {
		c := cs[r.IntN(centres)]
		var ss float64
		for j := range buf {
			buf[j] = c[j] + r.NormFloat64()*sd
			ss += buf[j] * buf[j]
		}
		inv := 1 / math.Sqrt(ss)
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(buf[j] * inv)
		}
		out[i] = v
	}
	return out
}
