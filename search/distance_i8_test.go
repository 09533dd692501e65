package search

import (
	"math/rand/v2"
	"testing"
)

// exactDotI8 is the reference: the int8 products summed in int64.
func exactDotI8(a, b []int8) int64 {
	var s int64
	for i := range a {
		s += int64(a[i]) * int64(b[i])
	}
	return s
}

// guardedI8 returns n random codes in [-128, 127] starting off bytes into a
// slice whose other bytes are 127, so a kernel that reads past either end
// of its slice returns a different sum (unless the extra products cancel,
// which the many lengths and seeds make vanishingly unlikely).
func guardedI8(r *rand.Rand, n, off int) []int8 {
	buf := make([]int8, off+n+128)
	for i := range buf {
		buf[i] = 127
	}
	v := buf[off : off+n : off+n]
	for i := range v {
		v[i] = int8(r.IntN(256) - 128)
	}
	return v
}

func TestDotI8Kernels(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	ks := kernelsI8()
	if ks[len(ks)-1].name != "generic" {
		t.Fatalf("last int8 kernel %q, want generic", ks[len(ks)-1].name)
	}
	t.Logf("int8 kernels on this CPU: %v (using %s)", kernelI8Names(ks), kernI8.name)
	for _, k := range ks {
		t.Run(k.name, func(t *testing.T) {
			for n := 0; n <= maxTestLen; n++ {
				// Offsets 0..7 bytes make every alignment class of a and b.
				a := guardedI8(r, n, n%8)
				b := guardedI8(r, n, (n/8)%8)
				if n%97 == 0 {
					// The extremes: −128·−128 in every lane.
					for i := range a {
						a[i], b[i] = -128, -128
					}
				}
				want := exactDotI8(a, b)
				if got := k.dot(a, b); int64(got) != want {
					t.Fatalf("n=%d: %s %d, exact %d", n, k.name, got, want)
				}
			}
		})
	}
}

func TestDotBatchI8Kernels(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, k := range kernelsI8() {
		t.Run(k.name, func(t *testing.T) {
			for n := 0; n <= maxTestLen; n++ {
				q := guardedI8(r, n, n%8)
				// 0..9 vectors: no group, whole groups of four and every
				// remainder; one entry is q itself.
				nv := n % 10
				vs := make([][]int8, nv)
				for i := range vs {
					vs[i] = guardedI8(r, n, (n+i)%8)
				}
				if nv > 2 {
					vs[2] = q
				}
				out := make([]int32, nv+1)
				out[nv] = 42
				k.dotBatch(q, vs, out)
				for i, v := range vs {
					if want := exactDotI8(q, v); int64(out[i]) != want {
						t.Fatalf("n=%d vector %d of %d: %s %d, exact %d", n, i, nv, k.name, out[i], want)
					}
				}
				if out[nv] != 42 {
					t.Fatalf("n=%d: %s wrote out[%d] past the %d vectors", n, k.name, nv, nv)
				}
			}
		})
	}
}

// FuzzDotI8 checks every int8 kernel against the exact sum: the bytes are
// the codes of a and b, then the count of batch vectors and the offset of a.
func FuzzDotI8(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4}, uint8(1), uint8(0))
	f.Add(randomBytes(rand.New(rand.NewPCG(15, 16)), 2*77), uint8(5), uint8(3))
	f.Add(randomBytes(rand.New(rand.NewPCG(17, 18)), 2*768), uint8(8), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, nv, off uint8) {
		n := len(data) / 2
		codes := make([]int8, len(data))
		for i, c := range data {
			codes[i] = int8(c)
		}
		a := append(make([]int8, int(off%8)), codes[:n]...)[off%8:]
		b := codes[n : 2*n]
		want := exactDotI8(a, b)
		vs := make([][]int8, nv%12)
		for i := range vs {
			vs[i] = b
		}
		for _, k := range kernelsI8() {
			if got := k.dot(a, b); int64(got) != want {
				t.Fatalf("n=%d: %s %d, exact %d", n, k.name, got, want)
			}
			out := make([]int32, len(vs))
			k.dotBatch(a, vs, out)
			for i, got := range out {
				if int64(got) != want {
					t.Fatalf("n=%d batch %d: %s %d, exact %d", n, i, k.name, got, want)
				}
			}
		}
	})
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func kernelI8Names(ks []kernelI8) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.name)
	}
	return out
}
