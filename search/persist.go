package search

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"unsafe"
)

// Changes lists what writes touched since the last TakeChanges, so a store
// can persist exactly those nodes in the same transaction as the data they
// index. Node ids are the index's dense internal ids.
type Changes struct {
	// Nodes whose key, level or links changed, or which were freed.
	Nodes []uint32
	// Vectors of nodes inserted (a subset of Nodes).
	Vectors []uint32
	// Meta is true when the entry point or top level changed.
	Meta bool
}

// Node is the persistent state of one node slot.
type Node struct {
	Key   string
	Level int
	// Links[l] are the neighbour ids on layer l (0..Level).
	Links [][]uint32
}

// Meta is the graph-wide persistent state.
type Meta struct {
	Entry uint32 // ^uint32(0) when empty
	Top   int    // -1 when empty
}

// TakeChanges returns and clears the changes recorded since the last call.
// It requires Options.TrackChanges and must be called by the writer between
// writes (the store calls it inside its write path).
func (x *Index) TakeChanges() Changes {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	var c Changes
	for n := range x.changed {
		c.Nodes = append(c.Nodes, n)
	}
	for n := range x.vecNew {
		c.Vectors = append(c.Vectors, n)
	}
	slices.Sort(c.Nodes)
	slices.Sort(c.Vectors)
	c.Meta = x.metaChg
	clear(x.changed)
	clear(x.vecNew)
	x.metaChg = false
	return c
}

// Node returns node n's state (ok false when the slot is free or out of
// range). The slices are copies. Safe for concurrent use.
func (x *Index) Node(n uint32) (Node, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if int(n) >= x.capacity() || x.levels[n] == freeLevel {
		return Node{}, false
	}
	lv := int(x.levels[n])
	nd := Node{Key: x.keys[n], Level: lv, Links: make([][]uint32, lv+1)}
	for l := 0; l <= lv; l++ {
		nd.Links[l] = append([]uint32(nil), x.neighbours(n, l)...)
	}
	return nd, true
}

// AppendVector appends node n's vector to dst as little-endian float32
// bytes. Safe for concurrent use.
func (x *Index) AppendVector(dst []byte, n uint32) ([]byte, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if int(n) >= x.capacity() || x.levels[n] == freeLevel {
		return dst, false
	}
	v := x.vec
	if x.qz != nil {
		// The full vector lives with the source; the codes are lossy.
		f, err := x.fullVector(n, nil)
		if err != nil {
			return dst, false
		}
		v = func(uint32) []float32 { return f }
	}
	for _, f := range v(n) {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
	}
	return dst, true
}

// GraphMeta returns the entry point and top level. Safe for concurrent use.
func (x *Index) GraphMeta() Meta {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return Meta{Entry: x.entry, Top: x.top}
}

// Restorer rebuilds an Index from persisted state. Use it on a fresh index
// from New: call SetNode and SetVector for every node (in any order), then
// Finish, which validates every invariant and publishes the graph. The
// Index must not be used until Finish returns nil. A Restorer is not safe
// for concurrent use, except that after Reserve(n), SetNode and SetVector
// may be called concurrently for distinct ids below n (they then touch only
// that id's slot), which lets a store load disjoint key ranges in parallel.
type Restorer struct {
	x        *Index
	hasVec   []bool
	reserved int
	mapped   bool
}

// Restore starts restoring into x, which must be empty.
func (x *Index) Restore() (*Restorer, error) {
	if x.capacity() != 0 {
		return nil, fmt.Errorf("restore into non-empty index: %w", ErrInvalidOptions)
	}
	return &Restorer{x: x}, nil
}

// Reserve allocates node slots 0..nodes-1 up front (one allocation per
// chunk of vectors and links, instead of growing while restoring) and sizes
// the key map for them. Call it before any SetNode or SetVector; nodes is
// the highest persisted id plus one (free slots included).
func (r *Restorer) Reserve(nodes int) error {
	if nodes < 0 || int64(nodes) > MaxNodes {
		return fmt.Errorf("reserve %d nodes: %w", nodes, ErrCorrupt)
	}
	x := r.x
	if x.capacity() != 0 || r.reserved != 0 {
		return fmt.Errorf("reserve after restoring began: %w", ErrInvalidOptions)
	}
	chunks := (nodes + chunkMask) >> chunkBits
	if x.qz != nil {
		x.codes = make([][]int8, 0, chunks)
	} else {
		x.vecs = make([][]float32, 0, chunks)
	}
	x.links0 = make([][]uint32, 0, chunks)
	x.levels = make([]int8, 0, nodes)
	x.keys = make([]string, 0, nodes)
	x.upper = make([][][]uint32, 0, nodes)
	r.hasVec = make([]bool, 0, nodes)
	x.ids = make(map[string]uint32, nodes)
	if nodes > 0 {
		if err := r.grow(uint32(nodes - 1)); err != nil {
			return err
		}
	}
	r.reserved = nodes
	return nil
}

func (r *Restorer) grow(n uint32) error {
	if int64(n) >= MaxNodes {
		return fmt.Errorf("node id %d: %w", n, ErrCorrupt)
	}
	x := r.x
	for x.capacity() <= int(n) {
		if _, err := x.allocSlot(); err != nil {
			return err
		}
		r.hasVec = append(r.hasVec, false)
	}
	return nil
}

// SetNode restores node n. The key map is filled (and duplicate keys
// detected) in Finish; links are validated there too. nd's slices are
// copied, so the caller may reuse them.
func (r *Restorer) SetNode(n uint32, nd Node) error {
	x := r.x
	if nd.Key == "" || len(nd.Key) > MaxKeyLen {
		return fmt.Errorf("node %d key: %w", n, ErrCorrupt)
	}
	if nd.Level < 0 || nd.Level > MaxLevel || len(nd.Links) != nd.Level+1 {
		return fmt.Errorf("node %d level %d: %w", n, nd.Level, ErrCorrupt)
	}
	if err := r.grow(n); err != nil {
		return err
	}
	if x.levels[n] != freeLevel {
		return fmt.Errorf("node %d twice: %w", n, ErrCorrupt)
	}
	for l, list := range nd.Links {
		if len(list) > x.capOf(l) {
			return fmt.Errorf("node %d layer %d has %d links: %w", n, l, len(list), ErrCorrupt)
		}
	}
	x.levels[n] = int8(nd.Level)
	x.keys[n] = nd.Key
	if nd.Level > 0 {
		x.upper[n] = make([][]uint32, nd.Level)
	}
	for l, list := range nd.Links {
		x.setNeighbours(n, l, list)
	}
	return nil
}

// SetVector restores node n's vector from little-endian float32 bytes.
func (r *Restorer) SetVector(n uint32, raw []byte) error {
	x := r.x
	if len(raw) != 4*x.dim {
		return fmt.Errorf("node %d vector of %d bytes, want %d: %w", n, len(raw), 4*x.dim, ErrCorrupt)
	}
	if err := r.grow(n); err != nil {
		return err
	}
	if x.qz != nil {
		x.qz.encodeLE(x.code(n), raw)
		r.hasVec[n] = true
		return nil
	}
	v := x.vec(n)
	if littleEndian {
		// The store checksums every record, so a plain copy is safe here;
		// decoding float by float was the largest single cost in a profile
		// of opening a 200k-vector store (TestOpenLarge).
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v)), raw)
	} else {
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	}
	r.hasVec[n] = true
	return nil
}

// MapKeys fills the key map from the nodes set so far and fails with
// ErrCorrupt when a key is on two nodes. Call it after the last SetNode; it
// may run concurrently with SetVector calls (which touch no keys), so a
// store can build the map while it reads the vectors. Finish calls it when
// the caller has not.
func (r *Restorer) MapKeys() error {
	x := r.x
	clear(x.ids)
	for i, lv := range x.levels {
		if lv == freeLevel {
			continue
		}
		k := x.keys[i]
		// One map operation per node: an insert that does not grow the map
		// hit an existing key.
		before := len(x.ids)
		x.ids[k] = uint32(i)
		if len(x.ids) == before {
			return fmt.Errorf("key %q on two nodes: %w", k, ErrCorrupt)
		}
	}
	r.mapped = true
	return nil
}

// Finish validates the restored graph against meta and publishes it: every
// node has a vector, every link targets a live node of sufficient level and
// not itself, and the entry point is a live node of the top level.
func (r *Restorer) Finish(meta Meta) error {
	x := r.x
	if !r.mapped {
		if err := r.MapKeys(); err != nil {
			return err
		}
	}
	x.free = x.free[:0]
	x.live = 0
	top := -1
	for i := range x.levels {
		n := uint32(i)
		lv := int(x.levels[n])
		if lv == freeLevel {
			x.free = append(x.free, n)
			continue
		}
		if !r.hasVec[n] {
			return fmt.Errorf("node %d has no vector: %w", n, ErrCorrupt)
		}
		x.live++
		top = max(top, lv)
		for l := 0; l <= lv; l++ {
			for _, e := range x.neighbours(n, l) {
				if int(e) >= x.capacity() || e == n || int(x.levels[e]) < l {
					return fmt.Errorf("node %d layer %d links to %d: %w", n, l, e, ErrCorrupt)
				}
			}
		}
	}
	if len(x.ids) != x.live {
		return fmt.Errorf("key map holds %d of %d nodes (SetNode after MapKeys?): %w", len(x.ids), x.live, ErrCorrupt)
	}
	// Hand out low slots first when reusing.
	slices.Reverse(x.free)
	if x.live == 0 {
		if meta.Entry != noNode && meta.Top != -1 {
			return fmt.Errorf("entry %d in empty graph: %w", meta.Entry, ErrCorrupt)
		}
		x.entry, x.top = noNode, -1
		return nil
	}
	if int(meta.Entry) >= x.capacity() || x.levels[meta.Entry] == freeLevel ||
		int(x.levels[meta.Entry]) != meta.Top || meta.Top != top {
		return fmt.Errorf("entry %d top %d (max level %d): %w", meta.Entry, meta.Top, top, ErrCorrupt)
	}
	x.entry, x.top = meta.Entry, meta.Top
	// Reseed so a reopened index does not replay the levels of the first run.
	x.rng = rand.New(rand.NewPCG(x.opts.Seed, uint64(x.live)))
	return nil
}

// Check verifies the graph invariants of a live index (the ones Finish
// checks on restore). Safe for concurrent use; for tests and doctor.
func (x *Index) Check() error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	live, top := 0, -1
	for i, l := range x.levels {
		n := uint32(i)
		lv := int(l)
		if lv == freeLevel {
			if x.keys[n] != "" {
				return fmt.Errorf("free node %d has key: %w", n, ErrCorrupt)
			}
			continue
		}
		live++
		top = max(top, lv)
		if m, ok := x.ids[x.keys[n]]; !ok || m != n {
			return fmt.Errorf("node %d key map: %w", n, ErrCorrupt)
		}
		for l := 0; l <= lv; l++ {
			for _, e := range x.neighbours(n, l) {
				if int(e) >= x.capacity() || e == n || int(x.levels[e]) < l {
					return fmt.Errorf("node %d layer %d links to %d: %w", n, l, e, ErrCorrupt)
				}
			}
		}
	}
	if live != x.live || len(x.ids) != live {
		return fmt.Errorf("live count %d, map %d, counted %d: %w", x.live, len(x.ids), live, ErrCorrupt)
	}
	if live > 0 && (x.entry == noNode || int(x.levels[x.entry]) != x.top || x.top != top) {
		return fmt.Errorf("entry %d top %d: %w", x.entry, x.top, ErrCorrupt)
	}
	return nil
}

// littleEndian is true on hosts whose float32 memory layout matches the
// little-endian bytes the store writes.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1
