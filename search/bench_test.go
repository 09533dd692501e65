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

// BenchmarkExactPage measures what a page after the first costs the server:
// an exact scan for k=201 hits after a deep cursor, excluding 200 keys (page
// 1's), and the MeanScore scan sort=date adds on its first page. The graph
// is built as cheaply as possible (M 2, efConstruction 1): only the scan is
// measured.
// Run: go test -run '^$' -bench ExactPage -benchtime 20x ./search/
func BenchmarkExactPage(b *testing.B) {
	const dim = 768
	for _, n := range []int{10000, 100000} {
		all := synth.Clustered(n+10, dim, 200, 0.8, 9)
		x, err := New(Options{Dim: dim, M: 2, EfConstruction: 1})
		if err != nil {
			b.Fatal(err)
		}
		for i, v := range all[:n] {
			if err := x.Add(key(i), v); err != nil {
				b.Fatal(err)
			}
		}
		q := all[n]
		ranked, err := x.Search(b.Context(), q, 5001, SearchOptions{Exact: true})
		if err != nil {
			b.Fatal(err)
		}
		served := map[string]bool{}
		for _, h := range ranked[:200] {
			served[h.ID] = true
		}
		opts := SearchOptions{Exact: true, After: &ranked[5000], Exclude: func(k string) bool { return served[k] }}
		b.Run(fmt.Sprintf("n=%d/page", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := x.Search(b.Context(), q, 201, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("n=%d/mean", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := x.MeanScore(b.Context(), q, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchIndex is BenchmarkSearch's float and int8-quantised indexes over
// the same data (the quantised one re-ranks from the data slice, as a
// store re-ranks from its mapped vector file), built once per process
// (-count reruns the benchmark function).
var benchIndex = sync.OnceValues(func() (map[string]*Index, [][]float32) {
	const n, dim, nq = 20000, 768, 256
	all := synth.Clustered(n+nq, dim, 100, 0.8, 11)
	z, err := TrainQuantizer(all[:4096])
	if err != nil {
		panic(err)
	}
	// Node n is the n-th vector added (no deletes).
	src := func(n uint32, _ string, _ []float32) ([]float32, error) { return all[n], nil }
	out := map[string]*Index{}
	for _, e := range []struct {
		name string
		opts Options
	}{
		{"float", Options{Dim: dim, ExactBelow: 1}},
		{"int8", Options{Dim: dim, ExactBelow: 1, Quantizer: z, Source: src}},
		{"int8-rerank-all", Options{Dim: dim, ExactBelow: 1, Quantizer: z, Source: src, Rerank: RerankAll}},
	} {
		x, err := New(e.opts)
		if err != nil {
			panic(err)
		}
		for i, v := range all[:n] {
			if err := x.Add(key(i), v); err != nil {
				panic(err)
			}
		}
		out[e.name] = x
	}
	return out, all[n:]
})

// BenchmarkSearch times one unfiltered k=10 graph search at several ef on
// 20,000 clustered 768-d vectors (the encoder's dimension), float and
// int8-quantised (re-ranking the default 4·k candidates, or all ef), with
// allocations per search. Run:
// go test -run '^$' -bench 'Search$' -benchmem -cpu 1 ./search/
func BenchmarkSearch(b *testing.B) {
	xs, qs := benchIndex()
	for _, name := range []string{"float", "int8", "int8-rerank-all"} {
		for _, ef := range []int{16, 64, 128} {
			b.Run(fmt.Sprintf("%s/ef=%d", name, ef), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if _, err := xs[name].Search(b.Context(), qs[i%len(qs)], 10, SearchOptions{Ef: ef}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
