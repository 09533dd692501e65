package search

import "golang.org/x/sys/cpu"

// Implemented in distance_i8_amd64.s; n is a multiple of 64 and every
// slice holds at least n codes.

//go:noescape
func dotI8AVX512(a, b *int8, n int) int32

//go:noescape
func dotBatchI8AVX512(q *int8, vs [][]int8, out []int32, n int)

//go:noescape
func dotBatchI8VNNI(q *int8, vs [][]int8, out []int32, n int)

//go:noescape
func dotI8AVX2(a, b *int8, n int) int32

// kernelsI8 lists the int8 kernels this CPU can run, fastest first; the
// last is always the generic one.
func kernelsI8() []kernelI8 {
	var ks []kernelI8
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI {
		ks = append(ks, kernelI8{name: "avx512vnni", dot: dotI8512, dotBatch: dotBatchI8512VNNI})
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW {
		ks = append(ks, kernelI8{name: "avx512bw", dot: dotI8512, dotBatch: dotBatchI8512})
	}
	if cpu.X86.HasAVX2 {
		ks = append(ks, kernelI8{name: "avx2", dot: dotI8256, dotBatch: dotBatchI8256})
	}
	return append(ks, genericI8)
}

// tailI8 adds the products past the last whole 64-code block.
func tailI8(a, b []int8, n int) int32 {
	var s int32
	for i := n; i < len(a); i++ {
		s += int32(a[i]) * int32(b[i])
	}
	return s
}

func dotI8512(a, b []int8) int32 {
	b = b[:len(a)]
	n := len(a) &^ 63
	var s int32
	if n > 0 {
		s = dotI8AVX512(&a[0], &b[0], n)
	}
	return s + tailI8(a, b, n)
}

// dotBatchI8512 runs the four-vector AVX-512BW assembly on whole groups
// of four and the single dot on the rest.
func dotBatchI8512(q []int8, vs [][]int8, out []int32) {
	dotBatchI8Groups(q, vs, out, dotBatchI8AVX512)
}

// dotBatchI8512VNNI is dotBatchI8512 with the VNNI group kernel.
func dotBatchI8512VNNI(q []int8, vs [][]int8, out []int32) {
	dotBatchI8Groups(q, vs, out, dotBatchI8VNNI)
}

// dotBatchI8Groups runs group (an assembly kernel over whole 64-code
// blocks of groups of four vectors) and adds the tails; the vectors past
// the last group of four take the single dot.
func dotBatchI8Groups(q []int8, vs [][]int8, out []int32, group func(q *int8, vs [][]int8, out []int32, n int)) {
	out = checkBatchI8(q, vs, out)
	g := len(vs) &^ 3
	n := len(q) &^ 63
	if n > 0 && g > 0 {
		group(&q[0], vs[:g], out[:g], n)
		if n < len(q) {
			for i, v := range vs[:g] {
				out[i] += tailI8(q, v, n)
			}
		}
	} else {
		g = 0
	}
	for i := g; i < len(vs); i++ {
		out[i] = dotI8512(q, vs[i])
	}
}

func dotI8256(a, b []int8) int32 {
	b = b[:len(a)]
	n := len(a) &^ 63
	var s int32
	if n > 0 {
		s = dotI8AVX2(&a[0], &b[0], n)
	}
	return s + tailI8(a, b, n)
}

func dotBatchI8256(q []int8, vs [][]int8, out []int32) {
	out = checkBatchI8(q, vs, out)
	for i, v := range vs {
		out[i] = dotI8256(q, v)
	}
}
