package search

import "golang.org/x/sys/cpu"

// Implemented in distance_amd64.s.

//go:noescape
func dotAVX512(a, b []float32) float32

//go:noescape
func dotBatchAVX512(q []float32, vs [][]float32, out []float32)

//go:noescape
func dotAVX2(a, b []float32) float32

//go:noescape
func dotBatchAVX2(q []float32, vs [][]float32, out []float32)

// prefetch starts loading the cache lines of p[0:48] without waiting.
//
//go:noescape
func prefetch(p *uint32)

// prefetchSpan starts loading every cache line of v without waiting.
//
//go:noescape
func prefetchSpan(v []float32)

// kernels lists the kernels this CPU can run, fastest first; the last is
// always the generic one. x/sys/cpu reports AVX-512 and AVX2 only when the
// OS also saves their registers.
func kernels() []kernel {
	var ks []kernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, kernel{name: "avx512", dot: dot512, dotBatch: dotBatch512})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, kernel{name: "avx2", dot: dot256, dotBatch: dotBatch256})
	}
	return append(ks, generic)
}

func dot512(a, b []float32) float32 { return dotAVX512(a, b[:len(a)]) }

// dotBatch512 runs the assembly on whole groups of four and the single dot
// on the rest.
func dotBatch512(q []float32, vs [][]float32, out []float32) {
	out = checkBatch(q, vs, out)
	n := len(vs) &^ 3
	dotBatchAVX512(q, vs[:n], out[:n])
	for i := n; i < len(vs); i++ {
		out[i] = dotAVX512(q, vs[i])
	}
}

func dot256(a, b []float32) float32 { return dotAVX2(a, b[:len(a)]) }

// dotBatch256 is dotBatch512 with the AVX2 kernels.
func dotBatch256(q []float32, vs [][]float32, out []float32) {
	out = checkBatch(q, vs, out)
	n := len(vs) &^ 3
	dotBatchAVX2(q, vs[:n], out[:n])
	for i := n; i < len(vs); i++ {
		out[i] = dotAVX2(q, vs[i])
	}
}
