package search

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/viterin/vek/vek32"
)

// maxTestLen covers every tail length of the 16-, 32- and 64-float loops
// many times over, past the 768 dimensions the encoder produces.
const maxTestLen = 1100

// dotBound is Higham's bound on the error of any float32 summation order
// (with or without FMA): |computed − exact| ≤ γ_n·Σ|a_i·b_i|, γ_n = nu/(1−nu),
// u = 2⁻²⁴. Products of float32s are exact in float64, so the float64 sum
// is exact to far below this; two more terms leave room for that.
func dotBound(n int, absSum float64) float64 {
	nu := float64(n+2) * 0x1p-24
	return nu / (1 - nu) * absSum
}

// exactDot returns a·b and Σ|a_i·b_i| in float64.
func exactDot(a, b []float32) (dot, abs float64) {
	for i := range a {
		p := float64(a[i]) * float64(b[i])
		dot += p
		abs += math.Abs(p)
	}
	return dot, abs
}

// guarded returns n random floats in [-1, 1) starting off floats into a
// slice whose other elements are NaN, so a kernel that reads one float
// before or after its slice returns NaN.
func guarded(r *rand.Rand, n, off int) []float32 {
	buf := make([]float32, off+n+32)
	for i := range buf {
		buf[i] = float32(math.NaN())
	}
	v := buf[off : off+n : off+n]
	for i := range v {
		v[i] = 2*r.Float32() - 1
	}
	return v
}

func TestDotKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ks := kernels()
	if ks[len(ks)-1].name != "generic" {
		t.Fatalf("last kernel %q, want generic", ks[len(ks)-1].name)
	}
	t.Logf("kernels on this CPU: %v (using %s)", kernelNames(ks), kern.name)
	for _, k := range ks {
		t.Run(k.name, func(t *testing.T) {
			for n := 0; n <= maxTestLen; n++ {
				// Offsets 0..3 floats make every alignment of a and b.
				a := guarded(r, n, n%4)
				b := guarded(r, n, (n/4)%4)
				want, abs := exactDot(a, b)
				got := k.dot(a, b)
				if d := math.Abs(float64(got) - want); !(d <= dotBound(n, abs)) {
					t.Fatalf("n=%d: %s %v, exact %v (error %g > bound %g)", n, k.name, got, want, d, dotBound(n, abs))
				}
				if g := dotGeneric(a, b); !(math.Abs(float64(got)-float64(g)) <= 2*dotBound(n, abs)) {
					t.Fatalf("n=%d: %s %v, generic %v", n, k.name, got, g)
				}
			}
		})
	}
}

func TestDotBatchKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, k := range kernels() {
		t.Run(k.name, func(t *testing.T) {
			for n := 0; n <= maxTestLen; n++ {
				q := guarded(r, n, n%4)
				// 0..9 vectors: no group, whole groups of four and every
				// remainder; one entry is q itself (the walk pads with q).
				nv := n % 10
				vs := make([][]float32, nv)
				for i := range vs {
					vs[i] = guarded(r, n, (n+i)%4)
				}
				if nv > 2 {
					vs[2] = q
				}
				out := make([]float32, nv+1)
				out[nv] = 42
				k.dotBatch(q, vs, out)
				for i, v := range vs {
					want, abs := exactDot(q, v)
					if d := math.Abs(float64(out[i]) - want); !(d <= dotBound(n, abs)) {
						t.Fatalf("n=%d vector %d of %d: %s %v, exact %v (error %g > bound %g)", n, i, nv, k.name, out[i], want, d, dotBound(n, abs))
					}
					if g := dotGeneric(q, v); !(math.Abs(float64(out[i])-float64(g)) <= 2*dotBound(n, abs)) {
						t.Fatalf("n=%d vector %d: %s %v, generic %v", n, i, k.name, out[i], g)
					}
				}
				if out[nv] != 42 {
					t.Fatalf("n=%d: %s wrote out[%d] past the %d vectors", n, k.name, nv, nv)
				}
			}
		})
	}
}

// TestScoreBatch checks the exported batch: the index's own kernel, exact
// within the bound, and a short vs leaves the rest of out alone.
func TestScoreBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	q := guarded(r, 768, 0)
	vs := make([][]float32, 11)
	for i := range vs {
		vs[i] = guarded(r, 768, i%4)
	}
	out := make([]float32, len(vs)+1)
	out[len(vs)] = 42
	ScoreBatch(q, vs, out)
	own := make([]float32, len(vs))
	kern.dotBatch(q, vs, own)
	for i, v := range vs {
		want, abs := exactDot(q, v)
		if d := math.Abs(float64(out[i]) - want); !(d <= dotBound(768, abs)) {
			t.Fatalf("vector %d: %v, exact %v", i, out[i], want)
		}
		if out[i] != own[i] {
			t.Fatalf("vector %d: %v, the %s kernel %v", i, out[i], kern.name, own[i])
		}
	}
	if out[len(vs)] != 42 {
		t.Fatal("ScoreBatch wrote past len(vs)")
	}
}

// FuzzDot checks every kernel against the exact sum on arbitrary finite
// inputs: the bytes are the floats of a and b, then the count of batch
// vectors and the offset of a.
func FuzzDot(f *testing.F) {
	f.Add([]byte{0, 0, 128, 63, 0, 0, 0, 64}, uint8(1), uint8(0))
	f.Add(floatBytes(rand.New(rand.NewPCG(5, 6)), 2*37), uint8(5), uint8(3))
	f.Add(floatBytes(rand.New(rand.NewPCG(7, 8)), 2*768), uint8(8), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, nv, off uint8) {
		fs := make([]float32, len(data)/4)
		for i := range fs {
			fs[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			// Keep sums finite in float32: the bound assumes no overflow.
			if math.IsNaN(float64(fs[i])) || math.Abs(float64(fs[i])) > 1e15 {
				fs[i] = 0
			}
		}
		n := len(fs) / 2
		a := append(make([]float32, int(off%4)), fs[:n]...)[off%4:]
		b := fs[n : 2*n]
		want, abs := exactDot(a, b)
		vs := make([][]float32, nv%12)
		for i := range vs {
			vs[i] = b
		}
		for _, k := range kernels() {
			if got := k.dot(a, b); !(math.Abs(float64(got)-want) <= dotBound(n, abs)) {
				t.Fatalf("n=%d: %s %v, exact %v", n, k.name, got, want)
			}
			out := make([]float32, len(vs))
			k.dotBatch(a, vs, out)
			for i, got := range out {
				if !(math.Abs(float64(got)-want) <= dotBound(n, abs)) {
					t.Fatalf("n=%d batch %d: %s %v, exact %v", n, i, k.name, got, want)
				}
			}
		}
	})
}

func floatBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(2*r.Float32()-1))
	}
	return b
}

func kernelNames(ks []kernel) []string {
	var s []string
	for _, k := range ks {
		s = append(s, k.name)
	}
	return s
}

// BenchmarkDot times one 768-d dot product per kernel (both vectors in L1),
// with vek32.Dot (the kernel used before) for comparison.
// Run: go test -run '^$' -bench 'Dot$' -cpu 1 ./search/
func BenchmarkDot(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	x, y := guarded(r, 768, 0), guarded(r, 768, 0)
	cases := []struct {
		name string
		dot  func(a, b []float32) float32
	}{{"vek32", vek32.Dot}}
	for _, k := range kernels() {
		cases = append(cases, struct {
			name string
			dot  func(a, b []float32) float32
		}{k.name, k.dot})
	}
	var sink float32
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				sink += c.dot(x, y)
			}
		})
	}
	_ = sink
}

// BenchmarkDotBatch times the dot products of a query with a 32-vector
// neighbour list (layer 0's cap at M=16), per kernel and against a loop of
// vek32.Dot: "l1" reuses 32 vectors that stay in cache, "mem" draws each
// list at random from 64k vectors (192 MiB, far past the caches), as the
// graph walk does. ns/op is per list.
// Run: go test -run '^$' -bench DotBatch -cpu 1 ./search/
func BenchmarkDotBatch(b *testing.B) {
	const dim, list = 768, 32
	r := rand.New(rand.NewPCG(11, 12))
	q := guarded(r, dim, 0)
	for _, pool := range []int{list, 1 << 16} {
		vecs := make([]float32, pool*dim)
		for i := range vecs {
			vecs[i] = 2*r.Float32() - 1
		}
		lists := make([][][]float32, 1024)
		for i := range lists {
			lists[i] = make([][]float32, list)
			for j := range lists[i] {
				v := j
				if pool > list {
					v = r.IntN(pool)
				}
				lists[i][j] = vecs[v*dim : (v+1)*dim]
			}
		}
		where := "l1"
		if pool > list {
			where = "mem"
		}
		out := make([]float32, list)
		b.Run(fmt.Sprintf("%s/vek32", where), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				for j, v := range lists[i%len(lists)] {
					out[j] = vek32.Dot(q, v)
				}
			}
		})
		for _, k := range kernels() {
			b.Run(fmt.Sprintf("%s/%s", where, k.name), func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					k.dotBatch(q, lists[i%len(lists)], out)
				}
			})
		}
	}
}
