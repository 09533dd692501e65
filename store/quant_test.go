package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"imglish/search/synth"
	"imglish/vstore"
)

// quantFixture is clustered unit-length data with queries and their
// exact top 10.
type quantFixture struct {
	data, queries [][]float32
	top           [][]string
}

func newQuantFixture(n, nq, dim int) quantFixture {
	all := synth.Clustered(n+nq, dim, 40, 0.8, 7)
	f := quantFixture{data: all[:n], queries: all[n:]}
	for _, q := range f.queries {
		f.top = append(f.top, f.exact(q, 10))
	}
	return f
}

func (f quantFixture) exact(q []float32, k int) []string {
	var out []string
	for _, i := range exactTop(f.data, q, k) {
		out = append(out, quantID(i))
	}
	return out
}

// exactTop are the indexes of q's k most similar vectors of data (cosine;
// ties by index).
func exactTop(data [][]float32, q []float32, k int) []int {
	type c struct {
		i int
		s float64
	}
	best := make([]c, 0, k+1)
	for i, v := range data {
		s := dot64(q, v)
		if len(best) == k && s <= best[k-1].s {
			continue
		}
		best = append(best, c{i, s})
		slices.SortFunc(best, func(a, b c) int {
			if a.s != b.s {
				if a.s > b.s {
					return -1
				}
				return 1
			}
			return a.i - b.i
		})
		best = best[:min(len(best), k)]
	}
	out := make([]int, len(best))
	for i, b := range best {
		out[i] = b.i
	}
	return out
}

func dot64(a, b []float32) float64 {
	var s, na, nb float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return s / math.Sqrt(na*nb)
}

func quantID(i int) string { return fmt.Sprintf("q%06d", i) }

const quantSpace = "images:q"

// fill writes the fixture's items and vectors in batches of 250.
func (f quantFixture) fill(t *testing.T, db *DB) {
	t.Helper()
	ctx := t.Context()
	if err := db.CreateSpace(ctx, Space{Name: quantSpace, Kind: KindImages, Model: "q", Dim: len(f.data[0])}); err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < len(f.data); lo += 250 {
		var b Batch
		for i := lo; i < min(lo+250, len(f.data)); i++ {
			b.PutItem(Item{ID: quantID(i), Files: []vstore.File{{Path: fmt.Sprintf("/q/%d.jpg", i)}}})
			b.PutVector(quantSpace, quantID(i), f.data[i])
		}
		if err := db.Apply(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
}

// check searches every query: recall@10 against the exact top 10, and
// every hit's score equal to its exact cosine (a quantised space re-ranks
// with the full vectors). It returns the hits, for comparing opens.
func (f quantFixture) check(t *testing.T, what string, db *DB) [][]Hit {
	t.Helper()
	var found, total int
	var all [][]Hit
	for qi, q := range f.queries {
		hits, err := db.Search(t.Context(), quantSpace, q, 10, SearchOptions{})
		if err != nil {
			t.Fatalf("%s: search: %v", what, err)
		}
		all = append(all, hits)
		want := map[string]bool{}
		for _, id := range f.top[qi] {
			want[id] = true
		}
		for _, h := range hits {
			var i int
			fmt.Sscanf(h.ID, "q%d", &i)
			if d := math.Abs(float64(h.Score) - dot64(q, f.data[i])); d > 1e-5 {
				t.Fatalf("%s: query %d hit %s score %v, exact %v", what, qi, h.ID, h.Score, dot64(q, f.data[i]))
			}
			if want[h.ID] {
				found++
			}
		}
		total += len(f.top[qi])
	}
	if r := float64(found) / float64(total); r < 0.95 {
		t.Errorf("%s: recall@10 %.3f, want ≥ 0.95", what, r)
	} else {
		t.Logf("%s: recall@10 %.3f", what, r)
	}
	return all
}

func (db *DB) spaceForTest(t *testing.T, name string) *space {
	t.Helper()
	sp, err := db.space(name)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// TestQuantizedSpace: with Options.Quantize a space turns to int8 codes
// once it holds QuantizeAfter vectors, saving three of every vector's four
// bytes per dimension, recall@10 ≥ 0.95 and exact scores; searches run
// alongside the writes that quantise it and re-rank nodes not yet on disk;
// a reopen restores the same codes (same hits), a reopen without Quantize
// holds floats again, and a float store opened with Quantize is quantised
// at open.
func TestQuantizedSpace(t *testing.T) {
	const dim = 96
	f := newQuantFixture(3000, 60, dim)
	opts := testOpts()
	opts.Quantize, opts.QuantizeAfter = true, 1000
	dir := t.TempDir()
	db, err := Open(t.Context(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Searches while the space fills and turns to codes.
	var searches atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var serr atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := db.Search(context.Background(), quantSpace, f.queries[i%len(f.queries)], 10, SearchOptions{}); err != nil && !errors.Is(err, ErrNotFound) {
				serr.Store(err)
				return
			}
			searches.Add(1)
		}
	}()
	f.fill(t, db)
	close(stop)
	wg.Wait()
	if err, _ := serr.Load().(error); err != nil {
		t.Fatalf("search during the writes: %v", err)
	}
	t.Logf("%d searches ran alongside the writes", searches.Load())
	sp := db.spaceForTest(t, quantSpace)
	if !sp.idx.Quantized() || sp.quant == nil {
		t.Fatal("space of 3000 vectors not quantised (QuantizeAfter 1000)")
	}
	quantBytes := sp.idx.MemoryBytes()
	hits := f.check(t, "quantised", db)
	if err := db.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The float store of the same data, for the memory comparison.
	fdb := openT(t, t.TempDir())
	f.fill(t, fdb)
	floatBytes := fdb.spaceForTest(t, quantSpace).idx.MemoryBytes()
	fdb.Close()
	// Codes are a byte per dimension instead of four; links and keys stay.
	if saved := floatBytes - quantBytes; saved < int64(3*dim*3000) {
		t.Errorf("quantised index holds %d bytes, floats %d: saves %d, want ≥ 3 bytes × %d dims × 3000", quantBytes, floatBytes, saved, dim)
	}
	t.Logf("index memory: %d B/vector quantised, %d floats (dim %d)", quantBytes/3000, floatBytes/3000, dim)

	// Reopened: the record's quantizer, so the very same hits.
	db, err = Open(t.Context(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !db.spaceForTest(t, quantSpace).idx.Quantized() {
		t.Fatal("reopened space not quantised")
	}
	if again := f.check(t, "reopened quantised", db); !slices.EqualFunc(again, hits, slices.Equal) {
		t.Error("reopened quantised store answers differently")
	}
	db.Close()

	// Without Quantize: floats.
	db = openT(t, dir)
	if db.spaceForTest(t, quantSpace).idx.Quantized() {
		t.Error("store opened without Quantize holds codes")
	}
	f.check(t, "reopened as floats", db)
	db.Close()

	// A float store opened with Quantize: quantised at open.
	fdir := t.TempDir()
	fdb = openT(t, fdir)
	f.fill(t, fdb)
	fdb.Close()
	start := time.Now()
	db, err = Open(t.Context(), fdir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !db.spaceForTest(t, quantSpace).idx.Quantized() {
		t.Fatal("float store opened with Quantize not quantised")
	}
	t.Logf("quantised at open in %v", time.Since(start))
	f.check(t, "quantised at open", db)
}
