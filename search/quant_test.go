package search

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"imglish/search/synth"
)

// countingSource serves full vectors by key and counts the reads.
type countingSource struct {
	mu    sync.RWMutex
	vecs  map[string][]float32
	reads atomic.Int64
}

func (s *countingSource) put(k string, v []float32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vecs[k] = v
}

func (s *countingSource) read(_ uint32, key string, dst []float32) ([]float32, error) {
	s.reads.Add(1)
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.vecs[key]
	if !ok {
		return nil, ErrNotFound
	}
	return append(dst[:0], v...), nil
}

func TestQuantizer(t *testing.T) {
	all := synth.Clustered(2000, testDim, 20, 0.8, 7)
	z, err := TrainQuantizer(all[:1000])
	if err != nil {
		t.Fatal(err)
	}
	norm := &Index{dim: testDim}
	var qq qquery
	code := make([]int8, testDim)
	worst := 0.0
	for i, v := range all[1000:] {
		u, _ := norm.normalise(v)
		q, _ := norm.normalise(all[1000+(i+1)%1000])
		z.encode(code, u)
		z.prepare(&qq, q)
		// The estimate's error is bounded by the code rounding (half a step
		// per dimension, times |q_d|; values outside the trained range are
		// clamped, so this holds only in range) plus the query rounding
		// (half of α per unit of |code|).
		var bound, exact float64
		inRange := true
		for d := range u {
			exact += float64(q[d]) * float64(u[d])
			bound += math.Abs(float64(q[d]))*float64(z.step[d])/2 + float64(qq.alpha)/2*math.Abs(float64(code[d]))
			if math.Abs(float64(u[d]-z.off[d])) > 127*float64(z.step[d]) {
				inRange = false
			}
		}
		est := float64(qq.est(dotI8Generic(qq.c, code)))
		if d := math.Abs(est - exact); inRange && d > bound+1e-5 {
			t.Fatalf("vector %d: estimate %v, exact %v, error %g > bound %g", i, est, exact, d, bound)
		}
		worst = max(worst, math.Abs(est-exact))
	}
	t.Logf("worst estimate error on %d held-out pairs (%d-d): %.5f", 1000, testDim, worst)
	if worst > 0.03 {
		t.Fatalf("worst estimate error %.4f, want ≤ 0.03", worst)
	}
}

func TestQuantizerOptions(t *testing.T) {
	z, err := TrainQuantizer([][]float32{{1, 0, 0}, {0, 1, 0}})
	if err != nil {
		t.Fatal(err)
	}
	src := (&countingSource{}).read
	for _, c := range []struct {
		name   string
		sample [][]float32
		opts   Options
		want   error
	}{
		{"empty sample", [][]float32{}, Options{}, ErrInvalidOptions},
		{"mixed lengths", [][]float32{{1, 0}, {1, 0, 0}}, Options{}, ErrDimension},
		{"zero vector", [][]float32{{0, 0}}, Options{}, ErrInvalidVector},
		{"NaN", [][]float32{{float32(math.NaN()), 1}}, Options{}, ErrInvalidVector},
		{"no source", nil, Options{Dim: 3, Quantizer: z}, ErrInvalidOptions},
		{"wrong dim", nil, Options{Dim: 4, Quantizer: z, Source: src}, ErrInvalidOptions},
		{"negative rerank", nil, Options{Dim: 3, Quantizer: z, Source: src, Rerank: -2}, ErrInvalidOptions},
		{"rerank all", nil, Options{Dim: 3, Quantizer: z, Source: src, Rerank: RerankAll}, nil},
		{"valid", nil, Options{Dim: 3, Quantizer: z, Source: src, Rerank: 20}, nil},
	} {
		var err error
		if c.sample != nil {
			_, err = TrainQuantizer(c.sample)
		} else {
			_, err = New(c.opts)
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
}

// quantFixture builds a quantised index over the same data as build, its
// quantizer trained on the first 1,000 vectors, and a float index beside it.
func quantFixture(t *testing.T, n, rerank int) (fixture, *countingSource) {
	t.Helper()
	all := synth.Clustered(n+testQueries, testDim, 60, 0.8, 42)
	z, err := TrainQuantizer(all[:1000])
	if err != nil {
		t.Fatal(err)
	}
	src := &countingSource{vecs: make(map[string][]float32)}
	x, err := New(Options{Dim: testDim, Quantizer: z, Source: src.read, Rerank: rerank})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range all[:n] {
		src.put(key(i), v)
		if err := x.Add(key(i), v); err != nil {
			t.Fatal(err)
		}
	}
	return fixture{x: x, vecs: all[:n], queries: all[n:]}, src
}

func TestQuantRecall(t *testing.T) {
	f, src := quantFixture(t, testN, 0)
	if r := src.reads.Load(); r != 0 {
		t.Fatalf("building read %d full vectors, want 0", r)
	}
	if err := f.x.Check(); err != nil {
		t.Fatal(err)
	}
	// The reference is the exact scan of a float index over the same data.
	fl := build(t, testN, Options{})
	// Codes take 1 byte per dimension where floats take 4.
	if qb, fb := f.x.MemoryBytes(), fl.x.MemoryBytes(); fb-qb < 3*testDim*testN {
		t.Fatalf("quantised index holds %d bytes, float %d: want %d fewer", qb, fb, 3*testDim*testN)
	}
	var sum float64
	for _, q := range f.queries {
		before := src.reads.Load()
		got, err := f.x.search(t.Context(), q, 10, SearchOptions{Ef: testEf}, true)
		if err != nil {
			t.Fatal(err)
		}
		// Only the walk's ef candidates are read, for the exact re-rank.
		if r := src.reads.Load() - before; r < 10 || r > testEf {
			t.Fatalf("a search read %d full vectors, want 10..%d", r, testEf)
		}
		want, err := fl.x.Search(t.Context(), q, 10, SearchOptions{Exact: true})
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if i > 0 && got[i-1].Score < got[i].Score {
				t.Fatalf("hits out of order: %v", got)
			}
		}
		sum += overlap(got, want)
	}
	r := sum / float64(len(f.queries))
	t.Logf("quantised recall@10 ef=%d on %d×%d clustered: %.4f", testEf, testN, testDim, r)
	if r < testRecall {
		t.Fatalf("quantised recall@10 = %.4f, want ≥ %.2f", r, testRecall)
	}
	// Exact scores: a re-ranked hit scores as the float index scores it.
	q := f.queries[0]
	got, _ := f.x.Search(t.Context(), q, 1, SearchOptions{Ef: testEf})
	want, _ := fl.x.Search(t.Context(), q, 1, SearchOptions{Exact: true})
	if got[0].ID == want[0].ID && math.Abs(float64(got[0].Score-want[0].Score)) > 1e-5 {
		t.Fatalf("top hit score %v, float index %v", got[0].Score, want[0].Score)
	}
	// A cursor holds on exact scores: the next page sorts strictly after it.
	p1, err := f.x.Search(t.Context(), q, 10, SearchOptions{Ef: 64})
	if err != nil {
		t.Fatal(err)
	}
	last := p1[len(p1)-1]
	p2, err := f.x.Search(t.Context(), q, 10, SearchOptions{Ef: 64, After: &last})
	if err != nil {
		t.Fatal(err)
	}
	if len(p2) == 0 {
		t.Fatal("second page empty")
	}
	for _, h := range p2 {
		if !last.Before(h) {
			t.Fatalf("page 2 hit %+v does not sort after the cursor %+v", h, last)
		}
	}
}

// TestQuantRerankLimit: a search re-ranks Options.Rerank candidates (at
// least k, at most ef), by default RerankFactor·k but at least RerankMin,
// and every candidate with RerankAll.
func TestQuantRerankLimit(t *testing.T) {
	for _, c := range []struct {
		rerank, k, ef int
		want          int64
	}{
		{12, 10, 64, 12},
		{3, 10, 64, 10},
		{0, 10, 64, RerankFactor * 10},
		{0, 5, 64, RerankMin},
		{0, 10, 24, 24},
		{RerankAll, 10, 64, 64},
	} {
		f, src := quantFixture(t, 2500, c.rerank)
		before := src.reads.Load()
		if _, err := f.x.Search(t.Context(), f.queries[1], c.k, SearchOptions{Ef: c.ef}); err != nil {
			t.Fatal(err)
		}
		if r := src.reads.Load() - before; r != c.want {
			t.Errorf("Rerank %d, k %d, ef %d: read %d vectors, want %d", c.rerank, c.k, c.ef, r, c.want)
		}
	}
}

// TestSetSource: a quantised index reads through the source it was last
// given, so a store can retire a mapped file's source; a float index or a
// nil source is refused.
func TestSetSource(t *testing.T) {
	f, src := quantFixture(t, 1500, 0)
	want, err := f.x.Search(t.Context(), f.queries[0], 10, SearchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gone := errors.New("source retired")
	if err := f.x.SetSource(func(uint32, string, []float32) ([]float32, error) { return nil, gone }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.x.Search(t.Context(), f.queries[0], 10, SearchOptions{}); !errors.Is(err, gone) {
		t.Fatalf("search after SetSource: %v, want the new source's error", err)
	}
	if err := f.x.SetSource(src.read); err != nil {
		t.Fatal(err)
	}
	got, err := f.x.Search(t.Context(), f.queries[0], 10, SearchOptions{})
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("search with the source back: %v %v, want %v", got, err, want)
	}
	if err := f.x.SetSource(nil); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("SetSource(nil): %v, want ErrInvalidOptions", err)
	}
	fl := build(t, 100, Options{})
	if err := fl.x.SetSource(src.read); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("SetSource on a float index: %v, want ErrInvalidOptions", err)
	}
}

func TestQuantDeleteAndFilter(t *testing.T) {
	f, src := quantFixture(t, testN, 0)
	r := rand.New(rand.NewPCG(9, 9))
	var dead []string
	for _, i := range r.Perm(testN)[:testN/10] {
		dead = append(dead, key(i))
	}
	if got := f.x.Delete(dead...); got != len(dead) {
		t.Fatalf("deleted %d, want %d", got, len(dead))
	}
	if err := f.x.Check(); err != nil {
		t.Fatal(err)
	}
	rc, err := f.x.RecallCheck(t.Context(), 100, 10, testEf)
	if err != nil {
		t.Fatal(err)
	}
	if rc < testRecall {
		t.Fatalf("RecallCheck after deletes = %.4f, want ≥ %.2f", rc, testRecall)
	}
	// A small filter is answered by the exact scan, through the source.
	keep := f.x.Select(func(k string) bool { return k < "item-00050" })
	before := src.reads.Load()
	hits, err := f.x.Search(t.Context(), f.queries[2], 5, SearchOptions{Filter: keep})
	if err != nil {
		t.Fatal(err)
	}
	if n := src.reads.Load() - before; n != int64(keep.Len()) || len(hits) != 5 {
		t.Fatalf("filtered scan read %d vectors for %d members, %d hits", n, keep.Len(), len(hits))
	}
	// A source failure is the search's error.
	src.put(hits[0].ID, nil)
	if _, err := f.x.Search(t.Context(), f.queries[2], 5, SearchOptions{Filter: keep}); !errors.Is(err, ErrDimension) {
		t.Fatalf("search over a bad source vector: %v, want ErrDimension", err)
	}
}

// TestQuantRestore restores a quantised index from a float one's persisted
// state (nodes, little-endian vectors, meta), as a store opening in
// quantised mode would: the vectors become codes, the invariants hold, and
// the graph answers as the quantised build does.
func TestQuantRestore(t *testing.T) {
	f := build(t, 3000, Options{})
	z, err := TrainQuantizer(f.vecs[:1000])
	if err != nil {
		t.Fatal(err)
	}
	src := &countingSource{vecs: make(map[string][]float32)}
	for i, v := range f.vecs {
		src.put(key(i), v)
	}
	y, err := New(Options{Dim: testDim, Quantizer: z, Source: src.read})
	if err != nil {
		t.Fatal(err)
	}
	r, err := y.Restore()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Reserve(3000); err != nil {
		t.Fatal(err)
	}
	for n := range uint32(3000) {
		nd, ok := f.x.Node(n)
		if !ok {
			t.Fatalf("node %d missing", n)
		}
		raw, _ := f.x.AppendVector(nil, n)
		if err := r.SetNode(n, nd); err != nil {
			t.Fatal(err)
		}
		if err := r.SetVector(n, raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.SetVector(0, raw3(testDim-1)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short vector: %v, want ErrCorrupt", err)
	}
	if err := r.Finish(f.x.GraphMeta()); err != nil {
		t.Fatal(err)
	}
	if err := y.Check(); err != nil {
		t.Fatal(err)
	}
	rq := recall(t, y, f.queries, 10, SearchOptions{Ef: testEf})
	t.Logf("restored quantised recall@10 ef=%d: %.4f", testEf, rq)
	if rq < testRecall {
		t.Fatalf("restored quantised recall@10 = %.4f, want ≥ %.2f", rq, testRecall)
	}
	// AppendVector of a quantised index serves the source's full vector.
	a, _ := f.x.AppendVector(nil, 7)
	b, ok := y.AppendVector(nil, 7)
	if !ok || len(a) != len(b) {
		t.Fatalf("AppendVector of the restored index: %d bytes, ok %v; want %d", len(b), ok, len(a))
	}
	for i := 0; i < len(a); i += 4 {
		fa := math.Float32frombits(binary.LittleEndian.Uint32(a[i:]))
		fb := math.Float32frombits(binary.LittleEndian.Uint32(b[i:]))
		if math.Abs(float64(fa-fb)) > 1e-6 {
			t.Fatalf("AppendVector component %d: %v, float index %v", i/4, fb, fa)
		}
	}
}

func raw3(n int) []byte { return make([]byte, 4*n) }
