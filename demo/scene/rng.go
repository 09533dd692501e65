package scene

import (
	"math/bits"
	"math/rand/v2"
)

// rng draws from a PCG-DXSM stream. Only PCG.Uint64 is used: its algorithm is
// fixed by its definition, while math/rand's derived helpers (IntN, Float64,
// Shuffle) may change between Go versions, which would silently change every
// demo scene and invalidate the trained model's held-out set.
type rng struct{ p *rand.PCG }

func newRNG(seed, stream uint64) *rng { return &rng{p: rand.NewPCG(seed, stream)} }

// float returns a uniform value in [0, 1) with 53 random bits.
func (r *rng) float() float64 { return float64(r.p.Uint64()>>11) / (1 << 53) }

// intn returns a uniform value in [0, n) for n > 0 (Lemire's multiply-shift with
// rejection, so it is exactly uniform).
func (r *rng) intn(n int) int {
	if n <= 1 {
		return 0
	}
	un := uint64(n)
	hi, lo := bits.Mul64(r.p.Uint64(), un)
	if lo < un {
		thresh := -un % un
		for lo < thresh {
			hi, lo = bits.Mul64(r.p.Uint64(), un)
		}
	}
	return int(hi)
}

// uniform returns a value in [lo, hi). The explicit conversion forbids fusing
// the multiply-add into an FMA (Go does so on arm64), which would change the
// last bit of positions between architectures.
func (r *rng) uniform(lo, hi float64) float64 { return lo + float64((hi-lo)*r.float()) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// pick returns one element of s uniformly.
func pick[T any](r *rng, s []T) T { return s[r.intn(len(s))] }
