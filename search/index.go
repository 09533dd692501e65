package search

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
)

const (
	// chunkBits sets how many nodes share one contiguous block of vector and
	// layer-0 link memory. Growing by chunks never copies existing vectors
	// (a doubling slice of 1M×768 float32 would copy 3 GB and need twice that).
	chunkBits = 10
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1
	// MaxLevel caps the generated node level; with M=16 a level above 8 has
	// probability 16^-8, so the cap only matters for corrupt input.
	MaxLevel = 16
	// MaxKeyLen is the longest key an Index accepts, in bytes.
	MaxKeyLen = 1024
	// MaxNodes is the most nodes one Index holds (dense ids are uint32 and
	// ^uint32(0) is reserved).
	MaxNodes  = 1<<31 - 1
	freeLevel = -1
	noNode    = ^uint32(0)
)

// Options configure an Index. The zero value is invalid only because Dim is
// required; every other zero field means its default.
type Options struct {
	// Dim is the vector dimension (required, 1..65536).
	Dim int
	// M is the number of links per node on layers ≥ 1; layer 0 allows 2·M
	// (the paper's Mmax0). Default 16.
	M int
	// EfConstruction is the candidate list size while inserting. Default 128.
	EfConstruction int
	// EfSearch is the default candidate list size of Search. Default 64.
	EfSearch int
	// ExactBelow makes Search scan exactly when the index (or the filtered
	// subset) holds fewer live nodes than this. Default 2048.
	ExactBelow int
	// ExactFraction makes a filtered Search scan exactly when the filter
	// matches less than this fraction of the live nodes. Default 0.02.
	ExactFraction float64
	// Seed seeds the level generator, so builds are reproducible. 0 means 1.
	Seed uint64
	// TrackChanges records which nodes each write touched, for TakeChanges
	// (the store persists them). Off by default.
	TrackChanges bool
	// Logger receives debug messages; nil discards them.
	Logger *slog.Logger
	// Quantizer, when non-nil, makes the index keep int8 codes (one byte
	// per dimension, see Quantizer) instead of float32 vectors: the walk
	// scores codes, and the best candidates are re-ranked exactly with
	// full vectors read through Source. Its dimension must equal Dim.
	Quantizer *Quantizer
	// Source returns full vectors for re-ranking; required with Quantizer
	// and unused without (see VectorSource).
	Source VectorSource
	// Rerank is how many of a quantised walk's best candidates are
	// re-ranked exactly (at least k, at most ef): 0 means the default,
	// RerankFactor·k but at least RerankMin; RerankAll means all ef.
	Rerank int
}

// Quantised re-ranking defaults (Options.Rerank). The codes rank a walk's
// candidates almost as the full vectors do (an estimate's error is a few
// thousandths of a cosine), so the true top k lie within the estimate's
// best few k: in make bench-quant (100k and 1M clustered vectors),
// re-ranking 4·k gave the same recall@10 as re-ranking every candidate at
// each ef both were run at, while reading ef/4k times fewer vectors.
const (
	RerankFactor = 4
	RerankMin    = 32
	RerankAll    = -1
)

func (o Options) resolve() (Options, error) {
	if o.Dim < 1 || o.Dim > 65536 {
		return o, fmt.Errorf("dim %d: %w", o.Dim, ErrInvalidOptions)
	}
	if o.M == 0 {
		o.M = 16
	}
	if o.M < 2 || o.M > 256 {
		return o, fmt.Errorf("M %d: %w", o.M, ErrInvalidOptions)
	}
	if o.EfConstruction == 0 {
		o.EfConstruction = 128
	}
	if o.EfConstruction < 1 || o.EfConstruction > 4096 {
		return o, fmt.Errorf("efConstruction %d: %w", o.EfConstruction, ErrInvalidOptions)
	}
	if o.EfSearch == 0 {
		o.EfSearch = 64
	}
	if o.EfSearch < 1 || o.EfSearch > 65536 {
		return o, fmt.Errorf("efSearch %d: %w", o.EfSearch, ErrInvalidOptions)
	}
	if o.ExactBelow == 0 {
		o.ExactBelow = 2048
	}
	if o.ExactBelow < 0 {
		return o, fmt.Errorf("exactBelow %d: %w", o.ExactBelow, ErrInvalidOptions)
	}
	if o.ExactFraction == 0 {
		o.ExactFraction = 0.02
	}
	if o.ExactFraction < 0 || o.ExactFraction > 1 || math.IsNaN(o.ExactFraction) {
		return o, fmt.Errorf("exactFraction %v: %w", o.ExactFraction, ErrInvalidOptions)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Quantizer != nil && (o.Quantizer.Dim() != o.Dim || o.Source == nil) {
		return o, fmt.Errorf("quantizer of dim %d for dim %d (source set: %t): %w", o.Quantizer.Dim(), o.Dim, o.Source != nil, ErrInvalidOptions)
	}
	if o.Rerank < RerankAll {
		return o, fmt.Errorf("rerank %d: %w", o.Rerank, ErrInvalidOptions)
	}
	return o, nil
}

// Index is an in-memory HNSW graph over unit vectors scored by dot product
// (cosine similarity), keyed by caller strings. It is safe for concurrent
// use: any number of Search calls run alongside one writer; writers are
// serialised. A writer computes its changes without blocking searches and
// takes the exclusive lock only to apply them.
type Index struct {
	opts    Options
	qz      *Quantizer // nil unless quantised
	dim     int
	m, m0   int
	levelML float64

	wmu sync.Mutex // serialises writers (Add, Delete, restore)

	mu     sync.RWMutex // guards the fields below for readers; writers mutate under Lock
	vecs   [][]float32  // chunks of chunkSize·dim (nil when quantised)
	codes  [][]int8     // chunks of chunkSize·dim when quantised
	links0 [][]uint32   // chunks of chunkSize·(m0+1): count then ids
	upper  [][][]uint32 // per node: layers 1..level
	levels []int8       // per node; freeLevel when the slot is free
	keys   []string     // per node
	ids    map[string]uint32
	free   []uint32
	entry  uint32
	top    int
	live   int

	// Writer-only state (guarded by wmu).
	rng     *rand.Rand
	wq      qquery    // a stored node prepared as a query (quantised)
	wqs     []qquery  // selectNeighboursQ's kept neighbours, prepared
	wbuf    []float32 // its decoded vector
	changed map[uint32]struct{}
	vecNew  map[uint32]struct{}
	metaChg bool

	visPool sync.Pool
}

// New returns an empty Index.
func New(opts Options) (*Index, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	x := &Index{
		opts:    o,
		qz:      o.Quantizer,
		dim:     o.Dim,
		m:       o.M,
		m0:      2 * o.M,
		levelML: 1 / math.Log(float64(o.M)),
		ids:     make(map[string]uint32),
		entry:   noNode,
		top:     -1,
		rng:     rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15)),
	}
	if o.TrackChanges {
		x.changed = make(map[uint32]struct{})
		x.vecNew = make(map[uint32]struct{})
	}
	return x, nil
}

// Dim returns the vector dimension. Safe for concurrent use.
func (x *Index) Dim() int { return x.dim }

// Options returns the resolved options (defaults filled in).
func (x *Index) Options() Options { return x.opts }

// Len returns the number of live nodes. Safe for concurrent use.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.live
}

// Slots returns one past the highest node id in use or free (the range
// Node and AppendVector answer for). Safe for concurrent use.
func (x *Index) Slots() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.capacity()
}

// Contains reports whether key is in the index. Safe for concurrent use.
func (x *Index) Contains(key string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.ids[key]
	return ok
}

// Vector returns a copy of key's stored (normalised) vector. Safe for
// concurrent use.
func (x *Index) Vector(key string) ([]float32, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n, ok := x.ids[key]
	if !ok {
		return nil, fmt.Errorf("vector %q: %w", key, ErrNotFound)
	}
	if x.qz != nil {
		return x.fullVector(n, nil)
	}
	return append([]float32(nil), x.vec(n)...), nil
}

// Keys returns every live key, in internal id order. Safe for concurrent use.
func (x *Index) Keys() []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]string, 0, x.live)
	for n, l := range x.levels {
		if l != freeLevel {
			out = append(out, x.keys[n])
		}
	}
	return out
}

// MemoryBytes estimates the heap held by vectors, links and key maps.
// Safe for concurrent use.
func (x *Index) MemoryBytes() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var b int64
	b += int64(len(x.vecs)) * chunkSize * int64(x.dim) * 4
	b += int64(len(x.codes)) * chunkSize * int64(x.dim)
	b += int64(len(x.links0)) * chunkSize * int64(x.m0+1) * 4
	b += int64(cap(x.upper)) * 24
	for _, u := range x.upper {
		for _, l := range u {
			b += 24 + int64(cap(l))*4
		}
	}
	b += int64(cap(x.levels)) + int64(cap(x.keys))*16 + int64(cap(x.free))*4
	for _, k := range x.keys {
		b += int64(len(k))
	}
	// A Go map entry of string→uint32 costs about 16+4 bytes plus ~50% slack
	// and 1 control byte; 48 is a round upper estimate per entry.
	b += int64(len(x.ids)) * 48
	return b
}

func (x *Index) vec(n uint32) []float32 {
	c := x.vecs[n>>chunkBits]
	off := int(n&chunkMask) * x.dim
	return c[off : off+x.dim : off+x.dim]
}

func (x *Index) neighbours(n uint32, layer int) []uint32 {
	if layer == 0 {
		c := x.links0[n>>chunkBits]
		off := int(n&chunkMask) * (x.m0 + 1)
		return c[off+1 : off+1+int(c[off])]
	}
	return x.upper[n][layer-1]
}

// setNeighbours replaces n's list on layer; the caller holds mu.Lock.
func (x *Index) setNeighbours(n uint32, layer int, list []uint32) {
	if layer == 0 {
		c := x.links0[n>>chunkBits]
		off := int(n&chunkMask) * (x.m0 + 1)
		c[off] = uint32(copy(c[off+1:off+1+x.m0], list))
		return
	}
	u := x.upper[n][layer-1]
	if cap(u) < len(list) {
		u = make([]uint32, 0, x.m+1)
	}
	x.upper[n][layer-1] = append(u[:0], list...)
}

func (x *Index) capOf(layer int) int {
	if layer == 0 {
		return x.m0
	}
	return x.m
}

func (x *Index) dot(a, b []float32) float32 { return dot(a, b) }

// normalise validates v and returns a unit-length copy.
func (x *Index) normalise(v []float32) ([]float32, error) { return x.normaliseInto(nil, v) }

// normaliseInto is normalise writing into dst's storage when it is large
// enough (a search's pooled query buffer).
func (x *Index) normaliseInto(dst, v []float32) ([]float32, error) {
	if len(v) != x.dim {
		return nil, fmt.Errorf("length %d, want %d: %w", len(v), x.dim, ErrDimension)
	}
	var ss float64
	for _, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, fmt.Errorf("non-finite component: %w", ErrInvalidVector)
		}
		ss += float64(f) * float64(f)
	}
	if ss == 0 || math.IsInf(ss, 0) {
		return nil, fmt.Errorf("norm %v: %w", math.Sqrt(ss), ErrInvalidVector)
	}
	inv := float32(1 / math.Sqrt(ss))
	out := dst[:0]
	if cap(out) < x.dim {
		out = make([]float32, x.dim)
	}
	out = out[:x.dim]
	for i, f := range v {
		out[i] = f * inv
	}
	return out, nil
}

// capacity is the number of node slots (live and free).
func (x *Index) capacity() int { return len(x.levels) }

// allocSlot reserves a node slot, growing storage by a chunk when needed.
// The caller holds wmu and mu.Lock.
func (x *Index) allocSlot() (uint32, error) {
	if k := len(x.free); k > 0 {
		n := x.free[k-1]
		x.free = x.free[:k-1]
		return n, nil
	}
	n := len(x.levels)
	if n >= MaxNodes {
		return 0, ErrFull
	}
	if n>>chunkBits >= len(x.links0) {
		if x.qz != nil {
			x.codes = append(x.codes, make([]int8, chunkSize*x.dim))
		} else {
			x.vecs = append(x.vecs, make([]float32, chunkSize*x.dim))
		}
		x.links0 = append(x.links0, make([]uint32, chunkSize*(x.m0+1)))
	}
	x.levels = append(x.levels, freeLevel)
	x.keys = append(x.keys, "")
	x.upper = append(x.upper, nil)
	return uint32(n), nil
}

func (x *Index) randomLevel() int {
	l := int(-math.Log(1-x.rng.Float64()) * x.levelML)
	return min(l, MaxLevel)
}

func (x *Index) markChanged(n uint32) {
	if x.changed != nil {
		x.changed[n] = struct{}{}
	}
}

// visited is a reusable visited-set: a node is visited when its tag equals
// the current generation, so clearing is O(1) except on wrap-around. It also
// carries a walk's buffers, so that a search, pooled, allocates nothing.
type visited struct {
	tags []uint16
	gen  uint16

	q     []float32   // the normalised query
	cands maxHeap     // searchLayer's candidates
	res   minHeap     // searchLayer's results
	ids   []uint32    // the unvisited neighbours of the node being expanded
	vs    [][]float32 // their vectors, padded with the query to a multiple of 4
	dots  []float32   // their similarities to the query

	// Quantised index only: the query prepared for codes, the batch's
	// codes and int8 dot products, two full vectors read for re-ranking
	// (the one scored and the one prefetched) and the re-ranked candidates.
	qq    qquery
	cs    [][]int8
	idots []int32
	fv    []float32
	fv2   []float32
	rr    []cand
}

// getVisited returns a pooled visited set, reset for capacity n.
func (x *Index) getVisited(n int) *visited {
	v := x.getScratch()
	v.reset(n)
	return v
}

// getScratch returns a pooled visited set whose tags are not yet sized;
// call reset (under the read lock, which fixes the capacity) before a walk.
func (x *Index) getScratch() *visited {
	v, _ := x.visPool.Get().(*visited)
	if v == nil {
		v = &visited{}
	}
	return v
}

// reset starts a new walk over n node slots.
func (v *visited) reset(n int) {
	if len(v.tags) < n {
		v.tags = make([]uint16, n+chunkSize)
		v.gen = 0
	}
	v.gen++
	if v.gen == 0 {
		clear(v.tags)
		v.gen = 1
	}
}

func (x *Index) putVisited(v *visited) { x.visPool.Put(v) }

// batch scores q against vs (which it may extend, in v.vs's storage) and
// returns the similarities, in v.dots's storage. It pads vs with q to a
// multiple of 4, the kernel's group size, so that every vector goes through
// the grouped, prefetching kernel; a padding "vector" is q itself, already
// in cache.
func (v *visited) batch(q []float32, vs [][]float32) []float32 {
	for len(vs)%4 != 0 {
		vs = append(vs, q)
	}
	v.vs = vs
	if cap(v.dots) < len(vs) {
		v.dots = make([]float32, len(vs))
	}
	dots := v.dots[:len(vs)]
	dotBatch(q, vs, dots)
	return dots
}

// greedy walks one upper layer towards q (search-layer with ef=1), scoring
// each node's neighbours in one batch and taking them in list order, as
// scoring them one by one would. vis lends its batch buffers.
func (x *Index) greedy(q []float32, cur cand, layer int, vis *visited) cand {
	for changed := true; changed; {
		changed = false
		list := x.neighbours(cur.n, layer)
		dots := x.scores(q, list, vis)
		for i, e := range list {
			if s := dots[i]; s > cur.s {
				cur = cand{s, e}
				changed = true
			}
		}
	}
	return cur
}

// acceptFunc decides whether a reached node may enter the result set;
// rejected nodes still route the search.
type acceptFunc func(n uint32, s float32) bool

// searchLayer is the paper's SEARCH-LAYER (algorithm 2) in similarity form:
// best-first expansion from eps, keeping the ef best accepted nodes in res.
// It returns res (a min-heap, unsorted).
func (x *Index) searchLayer(q []float32, eps []cand, ef, layer int, accept acceptFunc, vis *visited, cands *maxHeap, res minHeap) minHeap {
	*cands = (*cands)[:0]
	res = res[:0]
	for _, ep := range eps {
		if vis.tags[ep.n] == vis.gen {
			continue
		}
		vis.tags[ep.n] = vis.gen
		cands.push(ep)
		if accept == nil || accept(ep.n, ep.s) {
			res.push(ep)
			if len(res) > ef {
				res.pop()
			}
		}
	}
	for len(*cands) > 0 {
		c := cands.pop()
		if len(res) >= ef && c.s < res[0].s {
			break
		}
		// The best remaining candidate is usually the next one expanded:
		// start loading its link list now, while c's neighbours are
		// scored, instead of stalling on it then (about a tenth of the
		// time of a 20k×768 search at ef 64–128 went to that miss).
		if len(*cands) > 0 && layer == 0 {
			n := (*cands)[0].n
			prefetch(&x.links0[n>>chunkBits][int(n&chunkMask)*(x.m0+1)])
		}
		// Score the unvisited neighbours in one batch (four vectors per
		// pass over q, the next four prefetched), then update the sets in
		// list order, exactly as scoring them one by one would.
		ids := vis.ids[:0]
		for _, e := range x.neighbours(c.n, layer) {
			if vis.tags[e] == vis.gen {
				continue
			}
			vis.tags[e] = vis.gen
			ids = append(ids, e)
		}
		vis.ids = ids
		dots := x.scores(q, ids, vis)
		for i, e := range ids {
			s := dots[i]
			if len(res) < ef || s > res[0].s {
				cands.push(cand{s, e})
				if accept == nil || accept(e, s) {
					res.push(cand{s, e})
					if len(res) > ef {
						res.pop()
					}
				}
			}
		}
	}
	return res
}

// sortDesc sorts candidates by similarity, best first (insertion sort for the
// short lists here, then a heap-free merge is unnecessary).
func sortDesc(a []cand) {
	if len(a) > 64 {
		sortCands(a)
		return
	}
	for i := 1; i < len(a); i++ {
		c := a[i]
		j := i
		for j > 0 && a[j-1].s < c.s {
			a[j] = a[j-1]
			j--
		}
		a[j] = c
	}
}

// selectNeighbours is the paper's SELECT-NEIGHBORS-HEURISTIC (algorithm 4)
// without candidate extension or kept pruned connections: walking candidates
// best first, keep one only if it is more similar to the base than to every
// neighbour kept so far, up to m. cands must be sorted best first.
func (x *Index) selectNeighbours(cands []cand, m int, out []uint32) []uint32 {
	if x.qz != nil {
		return x.selectNeighboursQ(cands, m, out)
	}
	out = out[:0]
	for _, c := range cands {
		if len(out) >= m {
			break
		}
		vc := x.vec(c.n)
		good := true
		for _, r := range out {
			if x.dot(vc, x.vec(r)) > c.s {
				good = false
				break
			}
		}
		if good {
			out = append(out, c.n)
		}
	}
	return out
}

// linkPlan is one neighbour list to install in phase 2 of a write.
type linkPlan struct {
	n     uint32
	layer int
	list  []uint32
}

// insert adds a normalised vector under key as a new node. The caller holds
// wmu and has checked that key is absent.
func (x *Index) insert(key string, v []float32) error {
	level := x.randomLevel()
	x.mu.Lock()
	n, err := x.allocSlot()
	if err == nil {
		x.storeVec(n, v)
		x.setNeighbours(n, 0, nil)
		x.upper[n] = nil
	}
	x.mu.Unlock()
	if err != nil {
		return fmt.Errorf("insert %q: %w", key, err)
	}
	// Phase 1: find neighbours without blocking readers. Only this writer
	// mutates the graph, so reading it unlocked is race-free.
	own := make([][]uint32, level+1)
	var plans []linkPlan
	if x.entry != noNode {
		vis := x.getScratch()
		x.setQuery(vis, v)
		ep := cand{x.simVis(v, vis, x.entry), x.entry}
		for l := x.top; l > level; l-- {
			ep = x.greedy(v, ep, l, vis)
		}
		res := vis.res
		eps := []cand{ep}
		for l := min(level, x.top); l >= 0; l-- {
			vis.reset(x.capacity())
			res = x.searchLayer(v, eps, x.opts.EfConstruction, l, func(e uint32, _ float32) bool { return e != n }, vis, &vis.cands, res)
			w := append([]cand(nil), res...)
			sortDesc(w)
			own[l] = x.selectNeighbours(w, x.m, make([]uint32, 0, x.m))
			for _, e := range own[l] {
				plans = append(plans, linkPlan{e, l, x.addLink(e, l, n)})
			}
			eps = w
		}
		vis.res = res
		x.putVisited(vis)
	}
	// Phase 2: install under the exclusive lock.
	x.mu.Lock()
	x.levels[n] = int8(level)
	x.keys[n] = key
	x.ids[key] = n
	if level > 0 {
		x.upper[n] = make([][]uint32, level)
	}
	for l := 0; l <= level; l++ {
		x.setNeighbours(n, l, own[l])
	}
	for _, p := range plans {
		x.setNeighbours(p.n, p.layer, p.list)
		x.markChanged(p.n)
	}
	if level > x.top {
		x.top = level
		x.entry = n
		x.metaChg = true
	}
	x.live++
	x.mu.Unlock()
	x.markChanged(n)
	if x.vecNew != nil {
		x.vecNew[n] = struct{}{}
	}
	return nil
}

// addLink returns e's layer list with n added, shrunk by the heuristic when
// over the layer's cap. Called by the writer in phase 1.
func (x *Index) addLink(e uint32, layer int, n uint32) []uint32 {
	cur := x.neighbours(e, layer)
	limit := x.capOf(layer)
	if len(cur) < limit {
		out := make([]uint32, len(cur), len(cur)+1)
		copy(out, cur)
		return append(out, n)
	}
	ve, qe := x.nodeQuery(e)
	cs := make([]cand, 0, len(cur)+1)
	for _, c := range cur {
		cs = append(cs, cand{x.sim(ve, qe, c), c})
	}
	cs = append(cs, cand{x.sim(ve, qe, n), n})
	sortDesc(cs)
	return x.selectNeighbours(cs, limit, make([]uint32, 0, limit))
}

// Add inserts key with vector v, or replaces key's vector when key exists
// (re-adding the same vector is a no-op). v is validated and normalised
// first; nothing changes on error. Add serialises with other writers and is
// safe alongside Search.
func (x *Index) Add(key string, v []float32) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("add %q: %w", key, ErrInvalidKey)
	}
	u, err := x.normalise(v)
	if err != nil {
		return fmt.Errorf("add %q: %w", key, err)
	}
	x.wmu.Lock()
	defer x.wmu.Unlock()
	if old, ok := x.ids[key]; ok {
		// A quantised index holds no float vector to compare, so it
		// always replaces.
		if x.qz == nil && equalVec(x.vec(old), u) {
			return nil
		}
		x.deleteNodes([]uint32{old})
	}
	return x.insert(key, u)
}

func equalVec(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Delete removes keys (absent keys are skipped) and returns how many were
// removed. The links of every node that pointed at a removed node are
// repaired in the same call (no tombstones remain): each such node takes
// its remaining neighbours plus the removed neighbours' neighbours as
// candidates and re-selects with the heuristic. Finding those nodes scans
// the links of the whole graph once per call, so batch large deletions.
func (x *Index) Delete(keys ...string) int {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	var ns []uint32
	seen := make(map[uint32]bool, len(keys))
	for _, k := range keys {
		if n, ok := x.ids[k]; ok && !seen[n] {
			seen[n] = true
			ns = append(ns, n)
		}
	}
	if len(ns) > 0 {
		x.deleteNodes(ns)
	}
	return len(ns)
}

// deleteNodes removes live nodes ns and repairs in-links. Caller holds wmu.
func (x *Index) deleteNodes(ns []uint32) {
	capN := x.capacity()
	dead := make([]uint64, (capN+63)/64)
	for _, n := range ns {
		dead[n/64] |= 1 << (n % 64)
	}
	isDead := func(n uint32) bool { return dead[n/64]&(1<<(n%64)) != 0 }
	// Phase 1: repaired lists for every live node linking to a dead one.
	var plans []linkPlan
	for i := 0; i < capN; i++ {
		n := uint32(i)
		lv := int(x.levels[n])
		if lv == freeLevel || isDead(n) {
			continue
		}
		for l := 0; l <= lv; l++ {
			cur := x.neighbours(n, l)
			hit := false
			for _, e := range cur {
				if isDead(e) {
					hit = true
					break
				}
			}
			if hit {
				plans = append(plans, linkPlan{n, l, x.repair(n, l, cur, isDead)})
			}
		}
	}
	// New entry point if the old one dies: the live node of highest level.
	entry, top := x.entry, x.top
	if entry != noNode && isDead(entry) {
		entry, top = noNode, -1
		for i := 0; i < capN; i++ {
			n := uint32(i)
			if lv := int(x.levels[n]); lv > top && !isDead(n) {
				entry, top = n, lv
			}
		}
	}
	// Phase 2: install, free the slots.
	x.mu.Lock()
	for _, p := range plans {
		x.setNeighbours(p.n, p.layer, p.list)
		x.markChanged(p.n)
	}
	for _, n := range ns {
		delete(x.ids, x.keys[n])
		x.keys[n] = ""
		x.levels[n] = freeLevel
		x.setNeighbours(n, 0, nil)
		x.upper[n] = nil
		x.free = append(x.free, n)
		x.live--
		x.markChanged(n)
		if x.vecNew != nil {
			delete(x.vecNew, n)
		}
	}
	if entry != x.entry || top != x.top {
		x.entry, x.top = entry, top
		x.metaChg = true
	}
	x.mu.Unlock()
}

// repair re-selects n's layer list without dead nodes, taking the dead
// neighbours' live neighbours as extra candidates. If nothing is left it
// searches the layer from the entry point.
func (x *Index) repair(n uint32, layer int, cur []uint32, isDead func(uint32) bool) []uint32 {
	vn, qn := x.nodeQuery(n)
	seen := map[uint32]bool{n: true}
	var cs []cand
	add := func(c uint32) {
		if seen[c] || isDead(c) || int(x.levels[c]) < layer {
			return
		}
		seen[c] = true
		cs = append(cs, cand{x.sim(vn, qn, c), c})
	}
	for _, e := range cur {
		if isDead(e) {
			for _, f := range x.neighbours(e, layer) {
				add(f)
			}
		} else {
			add(e)
		}
	}
	if len(cs) == 0 && x.entry != noNode {
		vis := x.getVisited(x.capacity())
		x.setQuery(vis, vn)
		ep := cand{x.simVis(vn, vis, x.entry), x.entry}
		for l := x.top; l > layer; l-- {
			ep = x.greedy(vn, ep, l, vis)
		}
		var cands maxHeap
		res := x.searchLayer(vn, []cand{ep}, x.opts.EfConstruction, layer, func(e uint32, _ float32) bool {
			return e != n && !isDead(e)
		}, vis, &cands, nil)
		x.putVisited(vis)
		cs = append(cs, res...)
	}
	sortDesc(cs)
	return x.selectNeighbours(cs, x.capOf(layer), make([]uint32, 0, x.capOf(layer)))
}
