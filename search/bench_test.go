package search

import (
	"fmt"
	"sync"
	"testing"

	"imglish/search/synth"
)

// BenchmarkFilterSelectivity compares a filtered graph walk with the exact
// filtered scan at several selectivities, to place Options.ExactFraction.
// Run: go test -run '^$' -bench FilterSelectivity ./search/
func BenchmarkFilterSelectivity(b *testing.B) {
	const n, dim = 20000, 384
	all := synth.Clustered(n+100, dim, 200, 0.8, 9)
	x, err := New(Options{Dim: dim, ExactBelow: 1, ExactFraction: 1e-9})
	if err != nil {
		b.Fatal(err)
	}
	for i, v := range all[:n] {
		if err := x.Add(key(i), v); err != nil {
			b.Fatal(err)
		}
	}
	for _, pct := range []float64{0.5, 1, 2, 5, 10, 25} {
		mod := int(100 / pct)
		set := x.Select(func(k string) bool {
			var i int
			fmt.Sscanf(k, "item-%d", &i)
			return i%mod == 0
		})
		for _, exact := range []bool{false, true} {
			b.Run(fmt.Sprintf("sel=%.1f%%/exact=%v", pct, exact), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if _, err := x.Search(b.Context(), all[n+i%100], 10, SearchOptions{Ef: 64, Filter: set, Exact: exact}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// benchIndex is BenchmarkSearch's index, built once per process (-count
// reruns the benchmark function).
var benchIndex = sync.OnceValues(func() (*Index, [][]float32) {
	const n, dim, nq = 20000, 768, 256
	all := synth.Clustered(n+nq, dim, 100, 0.8, 11)
	x, err := New(Options{Dim: dim, ExactBelow: 1})
	if err != nil {
		panic(err)
	}
	for i, v := range all[:n] {
		if err := x.Add(key(i), v); err != nil {
			panic(err)
		}
	}
	return x, all[n:]
})

// BenchmarkSearch times one unfiltered k=10 graph search at several ef on
// 20,000 clustered 768-d vectors (the encoder's dimension), with
// allocations per search. Run:
// go test -run '^$' -bench 'Search$' -benchmem -cpu 1 ./search/
func BenchmarkSearch(b *testing.B) {
	x, qs := benchIndex()
	for _, ef := range []int{16, 64, 128} {
		b.Run(fmt.Sprintf("ef=%d", ef), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := x.Search(b.Context(), qs[i%len(qs)], 10, SearchOptions{Ef: ef}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
