package main

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"imglish/search"
)

// The float index loses about a tenth of its QPS per CPU-second when a
// second search thread runs beside it, where its int8-quantised copy and
// native hnswlib lose almost nothing. A chase separates the walk's memory
// pattern from its code: no graph, no heaps, no visited set, no lock, only
// what a layer-0 walk asks of the memory system. Each step reads one
// random link row, scores the chaseWidth vectors it names with the index's
// own kernel (search.ScoreBatch), and the best-scored one names the next
// row, so, as in the walk, the next read waits on this step's scores. If
// the chase over the float vectors scales as the walk does and the chase
// over quarter-width vectors (768 B, the int8 codes' size) as the
// quantised index does, the loss is the machine's, for this pattern, and
// not something the walk's code adds. A third chase reads the same float
// vectors in one batch per query, without the wait between steps: if it
// scales where the stepwise one does not, the limit is how the wait-bound
// pattern fares beside a second thread, not the bandwidth the two threads
// together may use.
//
// The shape is an ef=32 search's at 100k (M=16), counted once with a
// temporary counter in searchLayer: 35.6 expansions of 11.0 unvisited
// neighbours on layer 0 (392 vectors; the upper layers add about 80).
const (
	chaseSteps = 36
	chaseWidth = 11
)

// chase holds the random link rows and the two widths of vectors.
type chase struct {
	rows    []uint32    // len(data) rows of rowLen node numbers
	rowLen  int         // 2M+1, a layer-0 link row's length
	full    [][]float32 // the benchmark's vectors
	quarter [][]float32 // their first dim/4 floats, contiguous
}

// newChase draws the rows (fixed seed) and copies the quarter-width vectors.
func newChase(data [][]float32, m int) *chase {
	c := &chase{rowLen: 2*m + 1, full: data}
	r := rand.New(rand.NewPCG(1, uint64(len(data))))
	c.rows = make([]uint32, len(data)*c.rowLen)
	for i := range c.rows {
		c.rows[i] = uint32(r.IntN(len(data)))
	}
	w := len(data[0]) / 4
	buf := make([]float32, len(data)*w)
	c.quarter = make([][]float32, len(data))
	for i, v := range data {
		c.quarter[i] = buf[i*w : (i+1)*w : (i+1)*w]
		copy(c.quarter[i], v[:w])
	}
	return c
}

// pass runs total chases of chaseSteps steps over vecs on workers threads,
// each query's chase starting from its own row, the threads taking the
// next query from a shared counter as the search passes do. QPS counts
// chases. With bulk, a chase first follows the rows without scoring (each
// row's last entry names the next) and then scores all its vectors in one
// batch: the same bytes, read without a wait between steps, so that the
// kernel's prefetching keeps the memory system as busy as it can.
func (c *chase) pass(vecs, queries [][]float32, workers, total int, bulk bool) run {
	runtime.GOMAXPROCS(workers)
	defer runtime.GOMAXPROCS(1)
	w := len(vecs[0])
	var wg sync.WaitGroup
	var next atomic.Int64
	t0, c0 := time.Now(), cpuSeconds()
	for range workers {
		wg.Go(func() {
			vs := make([][]float32, chaseSteps*chaseWidth)
			dots := make([]float32, chaseSteps*chaseWidth)
			for j := int(next.Add(1) - 1); j < total; j = int(next.Add(1) - 1) {
				q := queries[j%len(queries)][:w]
				cur := uint32(j*7919) % uint32(len(vecs))
				if bulk {
					for s := range chaseSteps {
						row := c.rows[int(cur)*c.rowLen : (int(cur)+1)*c.rowLen]
						for k, n := range row[:chaseWidth] {
							vs[s*chaseWidth+k] = vecs[n]
						}
						cur = row[c.rowLen-1]
					}
					search.ScoreBatch(q, vs, dots)
					continue
				}
				for range chaseSteps {
					row := c.rows[int(cur)*c.rowLen : int(cur)*c.rowLen+chaseWidth]
					for k, n := range row {
						vs[k] = vecs[n]
					}
					search.ScoreBatch(q, vs[:chaseWidth], dots)
					best := 0
					for k := 1; k < chaseWidth; k++ {
						if dots[k] > dots[best] {
							best = k
						}
					}
					cur = row[best]
				}
			}
		})
	}
	wg.Wait()
	s, cs := time.Since(t0).Seconds(), cpuSeconds()-c0
	return run{QPS: float64(total) / s, QPSCPU: float64(total) / cs}
}
