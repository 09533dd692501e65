package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sync/errgroup"

	"imglish/search/synth"
)

// Test sizes: big enough that the graph (not the exact fallback) answers and
// recall is meaningful, small enough for -race on 2 cores.
const (
	testN       = 6000
	testQueries = 200
	testDim     = 96
	testEf      = 24
	testRecall  = 0.95
)

func key(i int) string { return fmt.Sprintf("item-%05d", i) }

type fixture struct {
	x       *Index
	vecs    [][]float32
	queries [][]float32
}

func build(t *testing.T, n int, opts Options) fixture {
	t.Helper()
	all := synth.Clustered(n+testQueries, testDim, 60, 0.8, 42)
	if opts.Dim == 0 {
		opts.Dim = testDim
	}
	x, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range all[:n] {
		if err := x.Add(key(i), v); err != nil {
			t.Fatal(err)
		}
	}
	return fixture{x: x, vecs: all[:n], queries: all[n:]}
}

// recall returns the mean recall@k of the graph against the exact scan.
func recall(t *testing.T, x *Index, qs [][]float32, k int, opts SearchOptions) float64 {
	t.Helper()
	var sum float64
	for _, q := range qs {
		got, err := x.search(t.Context(), q, k, opts, true)
		if err != nil {
			t.Fatal(err)
		}
		eo := opts
		eo.Exact = true
		want, err := x.Search(t.Context(), q, k, eo)
		if err != nil {
			t.Fatal(err)
		}
		sum += overlap(got, want)
	}
	return sum / float64(len(qs))
}

func TestRecallClustered(t *testing.T) {
	f := build(t, testN, Options{})
	if err := f.x.Check(); err != nil {
		t.Fatal(err)
	}
	r := recall(t, f.x, f.queries, 10, SearchOptions{Ef: testEf})
	t.Logf("recall@10 ef=%d on %d×%d clustered: %.4f", testEf, testN, testDim, r)
	if r < testRecall {
		t.Fatalf("recall@10 = %.4f, want ≥ %.2f", r, testRecall)
	}
	rc, err := f.x.RecallCheck(t.Context(), 100, 10, testEf)
	if err != nil {
		t.Fatal(err)
	}
	if rc < testRecall {
		t.Fatalf("RecallCheck = %.4f, want ≥ %.2f", rc, testRecall)
	}
}

func TestFilteredSearch(t *testing.T) {
	// ExactBelow 64 so that filtered subsets of a few hundred nodes use the
	// graph; only the selectivity rule sends the rare filters to a scan.
	f := build(t, testN, Options{ExactBelow: 64})
	tests := []struct {
		name      string
		mod       int // members: index % mod == 0
		minRecall float64
		wantExact bool // selectivity under ExactFraction: scanned, so identical
	}{
		{"1 in 100 (exact scan)", 100, 1, true},
		{"1 in 60 (exact scan)", 60, 1, true},
		{"1 in 20 (graph)", 20, 0.95, false},
		{"1 in 3 (graph)", 3, 0.95, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := f.x.Select(func(k string) bool {
				var i int
				fmt.Sscanf(k, "item-%d", &i)
				return i%tc.mod == 0
			})
			if want := (testN + tc.mod - 1) / tc.mod; set.Len() != want {
				t.Fatalf("set has %d members, want %d", set.Len(), want)
			}
			var sum float64
			for _, q := range f.queries[:100] {
				got, err := f.x.Search(t.Context(), q, 10, SearchOptions{Ef: testEf, Filter: set})
				if err != nil {
					t.Fatal(err)
				}
				want, err := f.x.Search(t.Context(), q, 10, SearchOptions{Filter: set, Exact: true})
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range got {
					var i int
					fmt.Sscanf(h.ID, "item-%d", &i)
					if i%tc.mod != 0 {
						t.Fatalf("hit %s outside the filter", h.ID)
					}
				}
				if tc.wantExact && fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("selective filter: got %v, want exact %v", got, want)
				}
				sum += overlap(got, want)
			}
			if r := sum / 100; r < tc.minRecall {
				t.Fatalf("filtered recall %.4f, want ≥ %.2f", r, tc.minRecall)
			}
		})
	}
}

func TestDeleteUpdateReAdd(t *testing.T) {
	f := build(t, 3000, Options{})
	x := f.x
	// Delete 10% in batches, including whoever is the entry point.
	var gone []string
	gone = append(gone, x.keys[x.entry])
	for i := 0; i < 3000; i += 10 {
		gone = append(gone, key(i))
	}
	for i := 0; i < len(gone); i += 50 {
		x.Delete(gone[i:min(i+50, len(gone))]...)
		if err := x.Check(); err != nil {
			t.Fatalf("after delete batch %d: %v", i, err)
		}
	}
	if got, want := x.Len(), 3000-len(gone)+1; got != want && got != want-1 {
		t.Fatalf("Len = %d after deleting %d", got, len(gone))
	}
	dead := map[string]bool{}
	for _, k := range gone {
		dead[k] = true
	}
	for _, q := range f.queries[:50] {
		hits, err := x.search(t.Context(), q, 20, SearchOptions{Ef: 64}, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			if dead[h.ID] {
				t.Fatalf("deleted %s returned", h.ID)
			}
		}
	}
	if r := recall(t, x, f.queries, 10, SearchOptions{Ef: testEf}); r < testRecall {
		t.Fatalf("recall after deleting 10%%: %.4f", r)
	}
	// Update: re-adding a key with a new vector replaces it.
	k := key(1)
	nv := f.queries[0]
	if err := x.Add(k, nv); err != nil {
		t.Fatal(err)
	}
	hits, err := x.search(t.Context(), nv, 1, SearchOptions{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if hits[0].ID != k || math.Abs(float64(hits[0].Score)-1) > 1e-5 {
		t.Fatalf("after update top hit %v, want %s at 1", hits[0], k)
	}
	before := x.Len()
	if err := x.Add(k, nv); err != nil { // same vector: no-op
		t.Fatal(err)
	}
	if err := x.Add(gone[5], f.vecs[0]); err != nil { // re-add a deleted key
		t.Fatal(err)
	}
	if x.Len() != before+1 {
		t.Fatalf("Len %d, want %d", x.Len(), before+1)
	}
	if err := x.Check(); err != nil {
		t.Fatal(err)
	}
	// Delete everything, then search and add again: no panic, sane results.
	x.Delete(x.Keys()...)
	if x.Len() != 0 {
		t.Fatalf("Len %d after deleting all", x.Len())
	}
	hits, err = x.Search(t.Context(), nv, 5, SearchOptions{})
	if err != nil || len(hits) != 0 {
		t.Fatalf("search of empty index: %v %v", hits, err)
	}
	if err := x.Add("again", nv); err != nil {
		t.Fatal(err)
	}
	if err := x.Check(); err != nil {
		t.Fatal(err)
	}
	hits, err = x.Search(t.Context(), nv, 5, SearchOptions{})
	if err != nil || len(hits) != 1 || hits[0].ID != "again" {
		t.Fatalf("after re-fill: %v %v", hits, err)
	}
}

func TestCursorPaging(t *testing.T) {
	f := build(t, 3000, Options{})
	q := f.queries[3]
	const page = 25
	for _, exact := range []bool{true, false} {
		t.Run(fmt.Sprintf("exact=%v", exact), func(t *testing.T) {
			want, err := f.x.Search(t.Context(), q, 4*page, SearchOptions{Exact: true})
			if err != nil {
				t.Fatal(err)
			}
			var got []Hit
			var after *Hit
			for len(got) < 4*page {
				hs, err := f.x.search(t.Context(), q, page, SearchOptions{After: after, Ef: 128, Exact: exact}, !exact)
				if err != nil {
					t.Fatal(err)
				}
				if len(hs) == 0 {
					break
				}
				for i := range hs {
					if after != nil && !after.Before(hs[i]) {
						t.Fatalf("hit %v not after cursor %v", hs[i], *after)
					}
				}
				got = append(got, hs...)
				last := hs[len(hs)-1]
				after = &last
			}
			if exact && fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("exact pages differ from one exact ranking")
			}
			if r := overlap(got, want); r < 0.95 {
				t.Fatalf("paged recall %.3f", r)
			}
		})
	}
}

// TestCompletePaging pages a whole index as the server does: page 1 an
// approximate graph walk, every later page an exact scan excluding page 1's
// keys after the previous page's last hit. Every node comes exactly once,
// and after page 1 in the exact order — with duplicate vectors (equal
// scores), a filter, and a graph whose walk misses nodes.
func TestCompletePaging(t *testing.T) {
	f := build(t, 3000, Options{M: 4, EfConstruction: 8, ExactBelow: 1})
	for i := range 300 { // twins: equal scores, ties broken by key
		if err := f.x.Add(fmt.Sprintf("twin-%05d", i), f.vecs[i*7]); err != nil {
			t.Fatal(err)
		}
	}
	odd := f.x.Select(func(k string) bool { return strings.HasSuffix(k, "1") || strings.HasSuffix(k, "3") })
	tests := []struct {
		name   string
		q      []float32
		page   int
		filter *IDSet
	}{
		{"query k=100", f.queries[0], 100, nil},
		{"a twin's vector k=33", f.vecs[7], 33, nil},
		{"filtered k=50", f.queries[1], 50, odd},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := f.x.Search(t.Context(), tc.q, 1<<20, SearchOptions{Exact: true, Filter: tc.filter})
			if err != nil {
				t.Fatal(err)
			}
			first, err := f.x.search(t.Context(), tc.q, tc.page, SearchOptions{Ef: tc.page, Filter: tc.filter}, true)
			if err != nil {
				t.Fatal(err)
			}
			served := map[string]bool{}
			for _, h := range first {
				served[h.ID] = true
			}
			var rest []Hit
			for _, h := range want {
				if !served[h.ID] {
					rest = append(rest, h)
				}
			}
			var got []Hit
			var after *Hit
			for {
				hs, err := f.x.Search(t.Context(), tc.q, tc.page, SearchOptions{
					Exact: true, Filter: tc.filter, After: after, Exclude: func(k string) bool { return served[k] }})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, hs...)
				if len(hs) < tc.page {
					break
				}
				after = &hs[len(hs)-1]
			}
			if fmt.Sprint(got) != fmt.Sprint(rest) {
				t.Fatalf("pages 2..n: %d hits, want the %d of the exact ranking page 1 did not serve, in order", len(got), len(rest))
			}
			// The point: a walk that misses items, as a big index's does.
			missed := len(first) - int(overlap(first, want[:len(first)])*float64(len(first))+0.5)
			if missed == 0 {
				t.Fatalf("page 1's walk missed none of the top %d: the case tests nothing", len(first))
			}
			t.Logf("page 1's walk missed %d of the top %d", missed, len(first))
		})
	}
}

// TestUntilAndMeanScore: Until keeps the hits sorting at or before it (a
// boundary inside a run of equal scores splits it by key); MeanScore is the
// mean of every (filtered) node's score.
func TestUntilAndMeanScore(t *testing.T) {
	f := build(t, 2500, Options{})
	if err := f.x.Add("item-99999", f.vecs[5]); err != nil { // item-00005's twin
		t.Fatal(err)
	}
	q := f.vecs[5]
	all, err := f.x.Search(t.Context(), q, 1<<20, SearchOptions{Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	if all[0].ID != "item-00005" || all[1].ID != "item-99999" || all[0].Score != all[1].Score {
		t.Fatalf("top two %v, want the twins at an equal score", all[:2])
	}
	for _, n := range []int{1, 2, 40, len(all)} {
		got, err := f.x.Search(t.Context(), q, 1<<20, SearchOptions{Exact: true, Until: &all[n-1]})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(all[:n]) {
			t.Errorf("until hit %d: %d hits, want the first %d", n, len(got), n)
		}
	}
	even := f.x.Select(func(k string) bool { return strings.HasSuffix(k, "0") })
	for _, set := range []*IDSet{nil, even} {
		var sum float64
		n := 0
		for _, h := range all {
			if set == nil || strings.HasSuffix(h.ID, "0") {
				sum += float64(h.Score)
				n++
			}
		}
		mean, count, err := f.x.MeanScore(t.Context(), q, set)
		if err != nil {
			t.Fatal(err)
		}
		if count != n || math.Abs(mean-sum/float64(n)) > 1e-9 {
			t.Errorf("mean score %v over %d, want %v over %d", mean, count, sum/float64(n), n)
		}
	}
}

func TestConcurrentSearchAndWrite(t *testing.T) {
	f := build(t, 2500, Options{})
	ctx := t.Context()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 8)
	for g := 0; g < 3; g++ {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				set := f.x.Select(func(k string) bool { return strings.HasSuffix(k, "7") })
				if _, err := f.x.Search(ctx, f.queries[(i+g)%len(f.queries)], 10, SearchOptions{Filter: set, Ef: 32}); err != nil {
					errc <- err
					return
				}
				if _, err := f.x.search(ctx, f.queries[i%len(f.queries)], 10, SearchOptions{}, true); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	for i := 0; i < 300; i++ {
		if err := f.x.Add(fmt.Sprintf("new-%d", i), f.queries[i%len(f.queries)]); err != nil {
			t.Fatal(err)
		}
		if i%30 == 0 {
			f.x.Delete(key(i), key(i+1), fmt.Sprintf("new-%d", i/2))
		}
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if err := f.x.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	x, err := New(Options{Dim: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Add("a", []float32{1, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"options dim 0", func() error { _, err := New(Options{}); return err }, ErrInvalidOptions},
		{"options M 1", func() error { _, err := New(Options{Dim: 4, M: 1}); return err }, ErrInvalidOptions},
		{"add short", func() error { return x.Add("b", []float32{1, 2}) }, ErrDimension},
		{"add NaN", func() error { return x.Add("b", []float32{nan, 0, 0, 0}) }, ErrInvalidVector},
		{"add zero", func() error { return x.Add("b", []float32{0, 0, 0, 0}) }, ErrInvalidVector},
		{"add empty key", func() error { return x.Add("", []float32{1, 0, 0, 0}) }, ErrInvalidKey},
		{"search k 0", func() error { _, err := x.Search(t.Context(), []float32{1, 0, 0, 0}, 0, SearchOptions{}); return err }, ErrInvalidOptions},
		{"search ef -1", func() error {
			_, err := x.Search(t.Context(), []float32{1, 0, 0, 0}, 1, SearchOptions{Ef: -1})
			return err
		}, ErrInvalidOptions},
		{"search dim", func() error { _, err := x.Search(t.Context(), []float32{1}, 1, SearchOptions{}); return err }, ErrDimension},
		{"vector missing", func() error { _, err := x.Vector("zz"); return err }, ErrNotFound},
		{"search cancelled", func() error {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_, err := x.Search(ctx, []float32{1, 0, 0, 0}, 1, SearchOptions{})
			return err
		}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRestoreRoundTrip(t *testing.T) {
	f := build(t, 2500, Options{TrackChanges: true})
	ch := f.x.TakeChanges()
	if len(ch.Nodes) != 2500 || len(ch.Vectors) != 2500 || !ch.Meta {
		t.Fatalf("changes: %d nodes %d vectors meta %v", len(ch.Nodes), len(ch.Vectors), ch.Meta)
	}
	restore := func(mutate func(n uint32, nd *Node)) (*Index, error) {
		y, err := New(Options{Dim: testDim})
		if err != nil {
			t.Fatal(err)
		}
		r, err := y.Restore()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ch.Nodes {
			nd, ok := f.x.Node(n)
			if !ok {
				t.Fatalf("node %d missing", n)
			}
			mutate(n, &nd)
			if err := r.SetNode(n, nd); err != nil {
				return nil, err
			}
			raw, _ := f.x.AppendVector(nil, n)
			if err := r.SetVector(n, raw); err != nil {
				return nil, err
			}
		}
		return y, r.Finish(f.x.GraphMeta())
	}
	// parallel restores as the store does: Reserve, nodes from 4
	// goroutines over disjoint ids, then vectors from 4 while MapKeys runs.
	parallel := func(mutate func(n uint32, nd *Node)) (*Index, error) {
		y, err := New(Options{Dim: testDim})
		if err != nil {
			t.Fatal(err)
		}
		r, err := y.Restore()
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Reserve(len(ch.Nodes)); err != nil {
			t.Fatal(err)
		}
		if err := r.Reserve(len(ch.Nodes)); !errors.Is(err, ErrInvalidOptions) {
			t.Fatalf("second Reserve: %v", err)
		}
		const workers = 4
		each := func(fn func(n uint32) error) error {
			var g errgroup.Group
			for w := range workers {
				g.Go(func() error {
					for i := w; i < len(ch.Nodes); i += workers {
						if err := fn(ch.Nodes[i]); err != nil {
							return err
						}
					}
					return nil
				})
			}
			return g.Wait()
		}
		err = each(func(n uint32) error {
			nd, ok := f.x.Node(n)
			if !ok {
				return fmt.Errorf("node %d missing", n)
			}
			mutate(n, &nd)
			return r.SetNode(n, nd)
		})
		if err != nil {
			return nil, err
		}
		var keys errgroup.Group
		keys.Go(r.MapKeys)
		err = each(func(n uint32) error {
			raw, _ := f.x.AppendVector(nil, n)
			return r.SetVector(n, raw)
		})
		if err := errors.Join(err, keys.Wait()); err != nil {
			return nil, err
		}
		return y, r.Finish(f.x.GraphMeta())
	}
	for _, restore := range []func(func(uint32, *Node)) (*Index, error){restore, parallel} {
		y, err := restore(func(uint32, *Node) {})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range f.queries[:30] {
			a, _ := f.x.search(t.Context(), q, 10, SearchOptions{}, true)
			b, _ := y.search(t.Context(), q, 10, SearchOptions{}, true)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("restored index answers differently:\n%v\n%v", a, b)
			}
		}
	}
	bad := []struct {
		name string
		mut  func(n uint32, nd *Node)
	}{
		{"link to missing node", func(n uint32, nd *Node) {
			if n == 7 {
				nd.Links[0] = append(nd.Links[0][:1], 999999)
			}
		}},
		{"self link", func(n uint32, nd *Node) {
			if n == 7 {
				nd.Links[0][0] = 7
			}
		}},
		{"bad level", func(n uint32, nd *Node) {
			if n == 7 {
				nd.Level = 3
			}
		}},
		{"duplicate key", func(n uint32, nd *Node) {
			if n == 7 {
				nd.Key = key(8)
			}
		}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := restore(tc.mut); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
			if _, err := parallel(tc.mut); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("parallel: got %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestExactScanMemory: an exact scan with a huge k (a date page asks for
// 1<<20) that keeps few hits allocates for the hits, not for the index. Its
// heap starts at exactHeapCap candidates and grows; sized at min(k, live)
// it was 8 bytes a node (20 kB here, against under 9 kB now: the capped heap,
// the normalised query and the hits).
func TestExactScanMemory(t *testing.T) {
	f := build(t, 2500, Options{})
	q := f.vecs[5]
	all, err := f.x.Search(t.Context(), q, 1<<20, SearchOptions{Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	const runs = 10
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		if _, err := f.x.Search(t.Context(), q, 1<<20, SearchOptions{Exact: true, Until: &all[2]}); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 12<<10 {
		t.Errorf("an exact scan keeping 3 of %d nodes allocates %d bytes, want under 12 kB", len(all), per)
	}
}
