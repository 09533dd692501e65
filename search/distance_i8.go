package search

// Kernels for the quantised index (Options.Quantizer): int8×int8 dot
// products summed exactly in int32. With |code| ≤ 128 and at most 65,536
// dimensions the sum stays under 2³⁰, so every kernel returns the same
// integer; dotI8Generic is the pure-Go fallback and the tests' reference.
// The assembly (distance_i8_amd64.s) sign-extends 32 bytes to 16-bit lanes
// and multiplies pairs into 32-bit sums (VPMOVSXBW + VPMADDWD, AVX-512BW or
// AVX2), or with AVX-512 VNNI multiplies 64 bytes at once into 32-bit sums
// (VPDPBUSD, the batch kernel); it handles whole 64-byte blocks and the Go
// wrapper adds the last len%64 products.

// kernelI8 is one implementation of the int8 distance functions.
type kernelI8 struct {
	name string
	// dot returns a·b over len(a) codes; len(b) ≥ len(a).
	dot func(a, b []int8) int32
	// dotBatch sets out[i] = q·vs[i]; len(out) ≥ len(vs), every vs[i]
	// holds at least len(q) codes.
	dotBatch func(q []int8, vs [][]int8, out []int32)
}

// kernI8 is the fastest int8 kernel this CPU runs (the first of kernelsI8()).
var kernI8 = kernelsI8()[0]

// KernelI8 names the int8 kernel in use ("avx512vnni", "avx512bw", "avx2",
// "generic"),
// for benchmark reports. Safe for concurrent use.
func KernelI8() string { return kernI8.name }

var genericI8 = kernelI8{name: "generic", dot: dotI8Generic, dotBatch: dotBatchI8Generic}

func dotI8Generic(a, b []int8) int32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += int32(a[i]) * int32(b[i])
		s1 += int32(a[i+1]) * int32(b[i+1])
		s2 += int32(a[i+2]) * int32(b[i+2])
		s3 += int32(a[i+3]) * int32(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += int32(a[i]) * int32(b[i])
	}
	return s0 + s1 + s2 + s3
}

func dotBatchI8Generic(q []int8, vs [][]int8, out []int32) {
	out = out[:len(vs)]
	for i, v := range vs {
		out[i] = dotI8Generic(q, v)
	}
}

// checkBatchI8 is checkBatch for codes: out cut to len(vs), every vector
// checked to hold len(q) codes, so a wrong call fails as a slice
// expression instead of reading past a slice in assembly.
func checkBatchI8(q []int8, vs [][]int8, out []int32) []int32 {
	out = out[:len(vs)]
	for _, v := range vs {
		_ = v[:len(q)]
	}
	return out
}
