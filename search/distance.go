package search

// The graph walk spends nearly all its time in dot products between the
// query and the vectors of a node's neighbours, read from memory in no
// particular order. The kernels here compute one dot product (dot) or the
// dot products of one query with a whole neighbour list (dotBatch), four
// vectors per pass over the query, prefetching the next four vectors' cache
// lines while the current four are multiplied. The assembly versions
// (distance_amd64.s: AVX-512, AVX2+FMA) are chosen once at start-up by CPU
// feature; dotGeneric is the pure-Go fallback and the reference the tests
// check every kernel against.

// kernel is one implementation of the distance functions.
type kernel struct {
	name string
	// dot returns a·b over len(a) floats; len(b) ≥ len(a).
	dot func(a, b []float32) float32
	// dotBatch sets out[i] = q·vs[i] for every i; len(out) ≥ len(vs), and
	// every vs[i] holds at least len(q) floats. It is fastest when len(vs)
	// is a multiple of 4.
	dotBatch func(q []float32, vs [][]float32, out []float32)
}

// kern is the fastest kernel this CPU runs (the first of kernels()).
var kern = kernels()[0]

// Kernel names the distance kernel in use ("avx512", "avx2", "generic"),
// for benchmark reports. Safe for concurrent use.
func Kernel() string { return kern.name }

// dot is the package's dot product: the chosen kernel.
func dot(a, b []float32) float32 { return kern.dot(a, b) }

// dotBatch is the package's batch dot product: the chosen kernel.
func dotBatch(q []float32, vs [][]float32, out []float32) { kern.dotBatch(q, vs, out) }

// ScoreBatch sets out[i] = q·vs[i] for every i with the kernel the index
// scores its neighbour lists with: four vectors per pass over q, the next
// four prefetched. Every vs[i] must hold at least len(q) floats and out at
// least len(vs) values. It is exported for benchmarks that time the index's
// memory pattern apart from its graph (search/annbench); the index itself
// never needs a caller to score.
func ScoreBatch(q []float32, vs [][]float32, out []float32) { dotBatch(q, vs, out) }

var generic = kernel{name: "generic", dot: dotGeneric, dotBatch: dotBatchGeneric}

// dotGeneric is the scalar dot product, with four partial sums so the
// additions do not wait on each other.
func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotBatchGeneric(q []float32, vs [][]float32, out []float32) {
	out = out[:len(vs)]
	for i, v := range vs {
		out[i] = dotGeneric(q, v)
	}
}

// checkBatch returns out cut to len(vs), after checking what the assembly
// kernels assume (they read len(q) floats from every vector and write
// len(vs) results): a wrong call fails like any out-of-range slice
// expression instead of reading past a slice.
func checkBatch(q []float32, vs [][]float32, out []float32) []float32 {
	out = out[:len(vs)]
	for _, v := range vs {
		_ = v[:len(q)]
	}
	return out
}
