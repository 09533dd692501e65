package search

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Hit is one search result: a key and its cosine similarity to the query.
type Hit struct {
	ID    string  `json:"id"`
	Score float32 `json:"score"`
}

// Before reports whether h sorts before o in result order: higher score
// first, then smaller ID. The order is total, so a (score, id) cursor pages
// through results stably.
func (h Hit) Before(o Hit) bool {
	if h.Score != o.Score {
		return h.Score > o.Score
	}
	return h.ID < o.ID
}

// SearchOptions tune one Search. The zero value means: the index's default
// ef, no filter, no cursor, graph search where it pays.
type SearchOptions struct {
	// Ef is the candidate list size on layer 0 (raised to k when smaller).
	Ef int
	// Filter, when non-nil, restricts results to its members. Non-members
	// still route the graph walk. Build it with Select or SelectKeys.
	Filter *IDSet
	// After, when non-nil, restricts results to hits sorting strictly after
	// it (see Hit.Before): the next page after a cursor. Like Filter, it is
	// applied during traversal, so a page deep in the ranking needs no
	// larger k. A graph walk is approximate, though: paging with After
	// alone can skip a node whose rank falls on a page the walk missed
	// (once the cursor has passed its score it is never returned), so a
	// complete enumeration pages with Exact (see Exclude).
	After *Hit
	// Until, when non-nil, restricts results to hits sorting at or before
	// it: the lower end of a set of the ranking fixed earlier (its least
	// relevant member), so that nodes added since can join the set but
	// none of its members drop out.
	Until *Hit
	// Exclude, when non-nil, drops the nodes whose key it reports true:
	// e.g. the hits an approximate first page served, so that exact pages
	// after it enumerate the rest of the ranking exactly once. It runs
	// under the index's read lock, only for nodes that would otherwise
	// enter the result set, and must not call back into the Index.
	Exclude func(key string) bool
	// Exact scans every (matching) node instead of walking the graph.
	Exact bool
}

// IDSet is a set of nodes of one Index, used as a search filter. It is a
// snapshot: nodes added after it was built are not members. It is
// immutable and safe for concurrent use.
type IDSet struct {
	bits []uint64
	n    int
}

// Len returns the number of members.
func (s *IDSet) Len() int { return s.n }

func (s *IDSet) has(n uint32) bool {
	w := int(n / 64)
	return w < len(s.bits) && s.bits[w]&(1<<(n%64)) != 0
}

// Select returns the set of live nodes whose key satisfies pred. pred runs
// under the index's read lock and must not call back into the Index. Safe
// for concurrent use.
func (x *Index) Select(pred func(key string) bool) *IDSet {
	x.mu.RLock()
	defer x.mu.RUnlock()
	s := &IDSet{bits: make([]uint64, (x.capacity()+63)/64)}
	for i, l := range x.levels {
		if l != freeLevel && pred(x.keys[i]) {
			s.bits[i/64] |= 1 << (i % 64)
			s.n++
		}
	}
	return s
}

// SelectKeys returns the set of the given keys that are live. Safe for
// concurrent use.
func (x *Index) SelectKeys(keys []string) *IDSet {
	x.mu.RLock()
	defer x.mu.RUnlock()
	s := &IDSet{bits: make([]uint64, (x.capacity()+63)/64)}
	for _, k := range keys {
		if n, ok := x.ids[k]; ok && !s.has(n) {
			s.bits[n/64] |= 1 << (n % 64)
			s.n++
		}
	}
	return s
}

// Search returns the k nodes most similar to query, best first (score
// descending, then ID ascending). query is normalised first. Safe for
// concurrent use.
func (x *Index) Search(ctx context.Context, query []float32, k int, opts SearchOptions) ([]Hit, error) {
	return x.search(ctx, query, k, opts, false)
}

// search is Search; graph forces the graph walk (RecallCheck measures it
// even where Search would scan).
func (x *Index) search(ctx context.Context, query []float32, k int, opts SearchOptions, graph bool) ([]Hit, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if k < 1 || k > 1<<20 {
		return nil, fmt.Errorf("search k=%d: %w", k, ErrInvalidOptions)
	}
	if opts.Ef < 0 || opts.Ef > 1<<20 {
		return nil, fmt.Errorf("search ef=%d: %w", opts.Ef, ErrInvalidOptions)
	}
	vis := x.getScratch()
	defer x.putVisited(vis)
	q, err := x.normaliseInto(vis.q, query)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	vis.q = q
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.live == 0 {
		return []Hit{}, nil
	}
	accept := x.acceptor(opts)
	pool := x.live
	if opts.Filter != nil {
		pool = opts.Filter.n
		if pool == 0 {
			return []Hit{}, nil
		}
	}
	if opts.Exact || (!graph && pool < x.opts.ExactBelow) || float64(pool) < x.opts.ExactFraction*float64(x.live) {
		return x.exact(ctx, q, k, opts.Filter, accept)
	}
	ef := opts.Ef
	if ef == 0 {
		ef = x.opts.EfSearch
	}
	ef = max(ef, k)
	if x.qz != nil {
		return x.searchQuant(ctx, q, k, ef, accept, vis)
	}
	ep := cand{x.dot(q, x.vec(x.entry)), x.entry}
	for l := x.top; l > 0; l-- {
		ep = x.greedy(q, ep, l, vis)
	}
	vis.reset(x.capacity())
	res := x.searchLayer(q, []cand{ep}, ef, 0, accept, vis, &vis.cands, vis.res)
	vis.res = res
	return x.hits(res, k), nil
}

// acceptor combines the filter, the bounds and the exclusion; nil accepts
// everything.
func (x *Index) acceptor(opts SearchOptions) acceptFunc {
	f, after, until, excl := opts.Filter, opts.After, opts.Until, opts.Exclude
	switch {
	case after == nil && until == nil && excl == nil:
		if f == nil {
			return nil
		}
		return func(n uint32, _ float32) bool { return f.has(n) }
	default:
		return func(n uint32, s float32) bool {
			if f != nil && !f.has(n) {
				return false
			}
			if after != nil && !(s < after.Score || (s == after.Score && x.keys[n] > after.ID)) {
				return false
			}
			if until != nil && !(s > until.Score || (s == until.Score && x.keys[n] <= until.ID)) {
				return false
			}
			return excl == nil || !excl(x.keys[n])
		}
	}
}

// hits sorts results into the public order and keeps k. Caller holds mu.
func (x *Index) hits(res []cand, k int) []Hit {
	out := make([]Hit, len(res))
	for i, c := range res {
		out[i] = Hit{ID: x.keys[c.n], Score: c.s}
	}
	slices.SortFunc(out, func(a, b Hit) int {
		if a.Score != b.Score {
			return cmp.Compare(b.Score, a.Score)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(out) > k {
		out = out[:k]
	}
	return out
}

// exactHeapCap is the most candidates an exact scan's heap holds room for
// at first; it grows past that by append. A date page asks for k = 1<<20
// and keeps the few hits above its cut: sized at min(k, live), its heap
// was 8 bytes a node of the index on every page.
const exactHeapCap = 1024

// exact scans the (filtered) live nodes. Caller holds mu.RLock.
func (x *Index) exact(ctx context.Context, q []float32, k int, f *IDSet, accept acceptFunc) ([]Hit, error) {
	if x.qz != nil {
		return x.exactQuant(ctx, q, k, f, accept)
	}
	h := rankHeap{x: x, a: make([]cand, 0, min(k, x.live, exactHeapCap))}
	for i, l := range x.levels {
		if i&4095 == 4095 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("search: %w", err)
			}
		}
		n := uint32(i)
		if l == freeLevel || (f != nil && !f.has(n)) {
			continue
		}
		c := cand{x.dot(q, x.vec(n)), n}
		if len(h.a) == k && !h.worse(h.a[0], c) {
			continue
		}
		if accept != nil && !accept(n, c.s) {
			continue
		}
		h.offer(c, k)
	}
	return x.hits(h.a, k), nil
}

// MeanScore returns the mean similarity of query to the live nodes (to the
// members of filter when it is not nil) and how many nodes that is (0, 0
// when none): the level a query's score curve is measured from. It scans
// every such node, as an exact search does. On a quantised index it is
// estimated from the codes (no source reads), except over fewer than
// ExactBelow nodes, where it is exact. Safe for concurrent use.
func (x *Index) MeanScore(ctx context.Context, query []float32, filter *IDSet) (float64, int, error) {
	q, err := x.normalise(query)
	if err != nil {
		return 0, 0, fmt.Errorf("mean score: %w", err)
	}
	var qq qquery
	if x.qz != nil {
		x.qz.prepare(&qq, q)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	// A quantised index averages estimates from its codes, except over a
	// set small enough that Search would scan it exactly: those terms are
	// exact, read through the source.
	var buf []float32
	if x.qz != nil {
		size := x.live
		if filter != nil {
			size = filter.Len()
		}
		if size < x.opts.ExactBelow {
			buf = make([]float32, 0, x.dim)
		}
	}
	var sum float64
	n := 0
	for i, l := range x.levels {
		if i&4095 == 4095 {
			if err := ctx.Err(); err != nil {
				return 0, 0, fmt.Errorf("mean score: %w", err)
			}
		}
		if l == freeLevel || (filter != nil && !filter.has(uint32(i))) {
			continue
		}
		if buf != nil {
			v, inv, err := x.readVector(uint32(i), buf)
			if err != nil {
				return 0, 0, fmt.Errorf("mean score: %w", err)
			}
			sum += float64(x.dot(q, v) * inv)
		} else {
			sum += float64(x.meanTerm(q, uint32(i), &qq))
		}
		n++
	}
	if n == 0 {
		return 0, 0, nil
	}
	return sum / float64(n), n, nil
}

// rankHeap keeps the k best nodes in the exact public order (score, then
// key), so ties at the k-th place resolve the same way every time.
type rankHeap struct {
	x *Index
	a []cand
}

// worse reports whether a sorts after b.
func (h *rankHeap) worse(a, b cand) bool {
	if a.s != b.s {
		return a.s < b.s
	}
	return h.x.keys[a.n] > h.x.keys[b.n]
}

// offer adds c, dropping the worst when more than k are held.
func (h *rankHeap) offer(c cand, k int) {
	if len(h.a) < k {
		h.a = append(h.a, c)
		for i := len(h.a) - 1; i > 0; {
			p := (i - 1) / 2
			if !h.worse(h.a[i], h.a[p]) {
				break
			}
			h.a[i], h.a[p] = h.a[p], h.a[i]
			i = p
		}
		return
	}
	h.a[0] = c
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(h.a) {
			break
		}
		b := l
		if r := l + 1; r < len(h.a) && h.worse(h.a[r], h.a[l]) {
			b = r
		}
		if !h.worse(h.a[b], h.a[i]) {
			break
		}
		h.a[i], h.a[b] = h.a[b], h.a[i]
		i = b
	}
}

// RecallCheck measures recall@k of the graph against exact search on
// sample live nodes chosen at random, using each node's vector as the
// query, at search size ef (0 = default). It returns the mean recall in
// [0, 1], or 1 for an empty index. Safe for concurrent use.
func (x *Index) RecallCheck(ctx context.Context, sample, k, ef int) (float64, error) {
	if sample < 1 || k < 1 {
		return 0, fmt.Errorf("recall check sample=%d k=%d: %w", sample, k, ErrInvalidOptions)
	}
	x.mu.RLock()
	var qs [][]float32
	var live []uint32
	for i, l := range x.levels {
		if l != freeLevel {
			live = append(live, uint32(i))
		}
	}
	r := rand.New(rand.NewPCG(uint64(len(live)), 7))
	r.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	for _, n := range live[:min(sample, len(live))] {
		qs = append(qs, x.sampleVec(n))
	}
	x.mu.RUnlock()
	if len(qs) == 0 {
		return 1, nil
	}
	var sum float64
	for _, q := range qs {
		got, err := x.search(ctx, q, k, SearchOptions{Ef: ef}, true)
		if err != nil {
			return 0, err
		}
		x.mu.RLock()
		want, err := x.exact(ctx, q, k, nil, nil)
		x.mu.RUnlock()
		if err != nil {
			return 0, err
		}
		sum += overlap(got, want)
	}
	return sum / float64(len(qs)), nil
}

// overlap is |got ∩ want| / |want|.
func overlap(got, want []Hit) float64 {
	if len(want) == 0 {
		return 1
	}
	set := make(map[string]bool, len(want))
	for _, h := range want {
		set[h.ID] = true
	}
	hit := 0
	for _, h := range got {
		if set[h.ID] {
			hit++
		}
	}
	return float64(hit) / float64(len(want))
}

func sortCands(a []cand) {
	slices.SortFunc(a, func(p, q cand) int { return cmp.Compare(q.s, p.s) })
}
