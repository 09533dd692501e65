package search

import (
	"context"
	"fmt"
	"math"
)

// VectorSource returns node n's full vector (key is its key), either
// appended to dst[:0] (dst has capacity for it) or as read-only memory of
// the source's own that stays valid until the same search has called the
// source twice more (a slice of a mapped file: re-ranking asks for the
// next vector while it scores the current one), for a quantised index
// (Options.Quantizer): the exact re-ranking of a walk's best candidates,
// exact scans, Vector and AppendVector read through it. It must return the
// vector as added (or any positive multiple of it: the index normalises
// what it reads). It runs under the index's read lock, possibly from
// several searches at once, and must not call back into the Index. A store
// serves it from a mapped file of the space's vectors, so a search reads
// only the few vectors it re-ranks (Options.Rerank).
type VectorSource func(n uint32, key string, dst []float32) ([]float32, error)

// code returns node n's codes (quantised index only).
func (x *Index) code(n uint32) []int8 {
	c := x.codes[n>>chunkBits]
	off := int(n&chunkMask) * x.dim
	return c[off : off+x.dim : off+x.dim]
}

// storeVec stores normalised v as node n's vector or codes. The caller
// holds mu.Lock.
func (x *Index) storeVec(n uint32, v []float32) {
	if x.qz != nil {
		x.qz.encode(x.code(n), v)
		return
	}
	copy(x.vec(n), v)
}

// setQuery prepares vis to score q (the codes of a quantised index need
// the query quantised once per walk).
func (x *Index) setQuery(vis *visited, q []float32) {
	if x.qz != nil {
		x.qz.prepare(&vis.qq, q)
	}
}

// simVis is q's similarity to node n: exact, or estimated from n's codes
// with the query vis was prepared for (setQuery).
func (x *Index) simVis(q []float32, vis *visited, n uint32) float32 {
	if x.qz != nil {
		return vis.qq.est(kernI8.dot(vis.qq.c, x.code(n)))
	}
	return x.dot(q, x.vec(n))
}

// sim is simVis with the prepared query given (nil for a float index).
func (x *Index) sim(q []float32, qq *qquery, n uint32) float32 {
	if qq != nil {
		return qq.est(kernI8.dot(qq.c, x.code(n)))
	}
	return x.dot(q, x.vec(n))
}

// nodeQuery returns node n's vector as a query: the stored vector, or for
// a quantised index its decoded codes and their preparation, in the
// writer's buffers (valid until the next call). Writer only.
func (x *Index) nodeQuery(n uint32) ([]float32, *qquery) {
	if x.qz == nil {
		return x.vec(n), nil
	}
	x.wbuf = x.qz.decode(x.wbuf, x.code(n))
	x.qz.prepare(&x.wq, x.wbuf)
	return x.wbuf, &x.wq
}

// scores returns q's similarities to the nodes ids, in vis's storage: a
// batch of float dot products, or of int8 dot products with the query vis
// was prepared for (padded the same way, to whole groups of four).
func (x *Index) scores(q []float32, ids []uint32, vis *visited) []float32 {
	if x.qz == nil {
		vs := vis.vs[:0]
		for _, e := range ids {
			vs = append(vs, x.vec(e))
		}
		return vis.batch(q, vs)
	}
	cs := vis.cs[:0]
	for _, e := range ids {
		cs = append(cs, x.code(e))
	}
	for len(cs)%4 != 0 {
		cs = append(cs, vis.qq.c)
	}
	vis.cs = cs
	if cap(vis.idots) < len(cs) {
		vis.idots = make([]int32, len(cs))
		vis.dots = make([]float32, len(cs))
	}
	if cap(vis.dots) < len(cs) {
		vis.dots = make([]float32, len(cs))
	}
	idots, dots := vis.idots[:len(cs)], vis.dots[:len(ids)]
	kernI8.dotBatch(vis.qq.c, cs, idots)
	for i := range dots {
		dots[i] = vis.qq.est(idots[i])
	}
	return dots
}

// selectNeighboursQ is selectNeighbours on codes. Each kept neighbour is
// prepared as a query once (decoded and quantised) and scored against the
// later candidates' codes, so a selection prepares at most m nodes rather
// than every candidate. Writer only.
func (x *Index) selectNeighboursQ(cands []cand, m int, out []uint32) []uint32 {
	out = out[:0]
	for _, c := range cands {
		if len(out) >= m {
			break
		}
		good := true
		for i := range out {
			q := &x.wqs[i]
			if q.est(kernI8.dot(q.c, x.code(c.n))) > c.s {
				good = false
				break
			}
		}
		if good {
			if len(x.wqs) <= len(out) {
				x.wqs = append(x.wqs, qquery{})
			}
			x.wbuf = x.qz.decode(x.wbuf, x.code(c.n))
			x.qz.prepare(&x.wqs[len(out)], x.wbuf)
			out = append(out, c.n)
		}
	}
	return out
}

// readRaw reads node n's full vector through the source, checking only
// its length (dst, of capacity dim, lends storage; the source may instead
// return memory of its own, which is only read and never handed back as
// dst). Caller holds mu.
func (x *Index) readRaw(n uint32, dst []float32) ([]float32, error) {
	v, err := x.opts.Source(n, x.keys[n], dst)
	if err != nil {
		return nil, fmt.Errorf("read vector %q: %w", x.keys[n], err)
	}
	if len(v) != x.dim {
		return nil, fmt.Errorf("read vector %q: length %d, want %d: %w", x.keys[n], len(v), x.dim, ErrDimension)
	}
	return v, nil
}

// invNorm is the inverse of the norm of node n's full vector v, which must
// be finite and non-zero.
func (x *Index) invNorm(v []float32, n uint32) (float32, error) {
	ss := float64(x.dot(v, v))
	if !(ss > 0) || math.IsInf(ss, 0) {
		return 0, fmt.Errorf("read vector %q: norm %v: %w", x.keys[n], math.Sqrt(ss), ErrInvalidVector)
	}
	return float32(1 / math.Sqrt(ss)), nil
}

// readVector is readRaw with the vector checked, and the inverse of its
// norm. Caller holds mu.
func (x *Index) readVector(n uint32, dst []float32) ([]float32, float32, error) {
	v, err := x.readRaw(n, dst)
	if err != nil {
		return nil, 0, err
	}
	inv, err := x.invNorm(v, n)
	if err != nil {
		return nil, 0, err
	}
	return v, inv, nil
}

// fullVector is a normalised copy of node n's full vector. Caller holds mu.
func (x *Index) fullVector(n uint32, dst []float32) ([]float32, error) {
	v, inv, err := x.readVector(n, dst)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = f * inv
	}
	return out, nil
}

// score is q's exact similarity to v, a full vector as read by
// readRaw (checked and normalised here).
func (x *Index) score(q, v []float32, n uint32) (float32, error) {
	inv, err := x.invNorm(v, n)
	if err != nil {
		return 0, err
	}
	return x.dot(q, v) * inv, nil
}

// rerank scores the candidates rr exactly, in place, with their full
// vectors: the next candidate's vector is asked of the source and its
// cache lines prefetched while the current one is scored, so a vector
// read from memory (a mapped file's pages) overlaps with arithmetic
// rather than stalling it. vis.fv and vis.fv2 lend the source storage in
// turn. Checks ctx every 64 candidates.
func (x *Index) rerank(ctx context.Context, q []float32, rr []cand, vis *visited) error {
	if len(rr) == 0 {
		return nil
	}
	if cap(vis.fv) < x.dim {
		vis.fv, vis.fv2 = make([]float32, 0, x.dim), make([]float32, 0, x.dim)
	}
	bufs := [2][]float32{vis.fv[:0], vis.fv2[:0]}
	next, err := x.readRaw(rr[0].n, bufs[0])
	for i := range rr {
		if err != nil {
			return err
		}
		if i&63 == 63 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		cur := next
		if i+1 < len(rr) {
			if next, err = x.readRaw(rr[i+1].n, bufs[(i+1)&1]); err == nil {
				prefetchSpan(next)
			}
		}
		s, serr := x.score(q, cur, rr[i].n)
		if serr != nil {
			return serr
		}
		rr[i].s = s
	}
	return nil
}

// rerankCount is how many candidates a quantised search of k re-ranks
// under Options.Rerank r (0: the default; 0 returned: all).
func rerankCount(r, k int) int {
	switch {
	case r == RerankAll:
		return 0
	case r == 0:
		return max(RerankFactor*k, RerankMin)
	}
	return max(k, r)
}

// searchQuant is the graph search of a quantised index: the walk (upper
// layers, then layer 0 with ef) scores codes; then the Rerank best of the
// ef candidates (rerankCount) are scored exactly with their full
// vectors and the k best of those returned. accept (filter, cursor, bounds,
// exclusion) runs on estimated scores during the walk and again on the
// exact scores, so a returned hit satisfies the cursor exactly. Caller
// holds mu.RLock.
func (x *Index) searchQuant(ctx context.Context, q []float32, k, ef int, accept acceptFunc, vis *visited) ([]Hit, error) {
	x.setQuery(vis, q)
	ep := cand{x.simVis(q, vis, x.entry), x.entry}
	for l := x.top; l > 0; l-- {
		ep = x.greedy(q, ep, l, vis)
	}
	vis.reset(x.capacity())
	res := x.searchLayer(q, []cand{ep}, ef, 0, accept, vis, &vis.cands, vis.res)
	vis.res = res
	rr := append(vis.rr[:0], res...)
	sortDesc(rr)
	if r := rerankCount(x.opts.Rerank, k); r > 0 {
		rr = rr[:min(len(rr), r)]
	}
	if err := x.rerank(ctx, q, rr, vis); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	out := rr[:0]
	for _, c := range rr {
		if accept == nil || accept(c.n, c.s) {
			out = append(out, c)
		}
	}
	vis.rr = rr
	return x.hits(out, k), nil
}

// exactQuant is the exact scan of a quantised index: it reads every
// (matching) node's full vector through the source, so it is exact and
// as slow as the source; Search takes it for small filtered sets and
// SearchOptions.Exact. Caller holds mu.RLock.
func (x *Index) exactQuant(ctx context.Context, q []float32, k int, f *IDSet, accept acceptFunc) ([]Hit, error) {
	h := rankHeap{x: x, a: make([]cand, 0, min(k, x.live, exactHeapCap))}
	buf := make([]float32, 0, x.dim)
	for i, l := range x.levels {
		if i&1023 == 1023 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("search: %w", err)
			}
		}
		n := uint32(i)
		if l == freeLevel || (f != nil && !f.has(n)) {
			continue
		}
		v, inv, err := x.readVector(n, buf)
		if err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		c := cand{x.dot(q, v) * inv, n}
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

// meanTerm is q's similarity to node n for MeanScore: exact for a float
// index, estimated from the codes (qq prepared for q) for a quantised one,
// which keeps MeanScore a scan of memory rather than of the source.
func (x *Index) meanTerm(q []float32, n uint32, qq *qquery) float32 {
	if x.qz != nil {
		return x.sim(q, qq, n)
	}
	return x.dot(q, x.vec(n))
}

// sampleVec returns a copy of node n's vector as a query for RecallCheck:
// for a quantised index its decoded codes (a query near the node, which is
// all a recall sample needs, without reading the source). Caller holds mu.
func (x *Index) sampleVec(n uint32) []float32 {
	if x.qz != nil {
		return x.qz.decode(nil, x.code(n))
	}
	return append([]float32(nil), x.vec(n)...)
}

// Quantized reports whether the index keeps int8 codes (Options.Quantizer
// or Quantize). Safe for concurrent use.
func (x *Index) Quantized() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.qz != nil
}

// Quantize turns a float index into a quantised one in place: every
// node's vector becomes its codes under z, the float vectors are released,
// and from then on the best candidates of a walk are re-ranked with full
// vectors read through src (rerank as Options.Rerank). The graph is kept
// as built. Searches wait while it runs (it holds the write lock for one
// pass over the vectors). It fails with ErrInvalidOptions when the index
// is quantised already, or z's dimension or src does not fit.
func (x *Index) Quantize(z *Quantizer, src VectorSource, rerank int) error {
	if z == nil || z.Dim() != x.dim || src == nil || rerank < RerankAll {
		return fmt.Errorf("quantize: %w", ErrInvalidOptions)
	}
	x.wmu.Lock()
	defer x.wmu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.qz != nil {
		return fmt.Errorf("quantize: already quantised: %w", ErrInvalidOptions)
	}
	codes := make([][]int8, len(x.vecs))
	for c := range codes {
		codes[c] = make([]int8, chunkSize*x.dim)
	}
	for i, lv := range x.levels {
		if lv == freeLevel {
			continue
		}
		n := uint32(i)
		off := int(n&chunkMask) * x.dim
		z.encode(codes[n>>chunkBits][off:off+x.dim], x.vec(n))
	}
	x.codes, x.vecs, x.qz = codes, nil, z
	x.opts.Quantizer, x.opts.Source, x.opts.Rerank = z, src, rerank
	return nil
}

// SetSource replaces a quantised index's source. It waits for the
// searches in flight (they read through the source under the read lock),
// so once it returns none reads through the old one: a store swaps in a
// failing source before it unmaps the file the old one served. It fails
// with ErrInvalidOptions on a float index or for a nil source.
func (x *Index) SetSource(src VectorSource) error {
	if src == nil {
		return fmt.Errorf("set source: %w", ErrInvalidOptions)
	}
	x.wmu.Lock()
	defer x.wmu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.qz == nil {
		return fmt.Errorf("set source: float index: %w", ErrInvalidOptions)
	}
	x.opts.Source = src
	return nil
}
