package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/sync/errgroup"

	"imglish/search"
)

// Loading a store is the hot path of Open: at 1M×768 it reads 3 GB of
// vectors, 1M nodes and 1M items. It reads one snapshot (one read-only
// transaction) and avoids per-record allocation where it can:
//   - each space's node slots are reserved up front from its highest
//     persisted id (one reverse seek), so vectors and links are copied
//     straight into the index's chunks and the key map is sized once;
//   - nodes and vectors are read by loadWorkers goroutines over disjoint
//     id ranges (search.Restorer allows that after Reserve);
//   - an item is decoded into slab-allocated structs whose strings share
//     one allocation per record, and the path lookup is built on first use.

// itemSlab is how many items (and files) share one allocation on load.
const itemSlab = 4096

// loadWorkers is how many goroutines read items, and how many read each
// space's nodes and vectors, over disjoint key ranges.
func loadWorkers() int { return max(2, runtime.GOMAXPROCS(0)) }

// load reads everything from one snapshot into fresh maps and then
// publishes them.
func (db *DB) load(ctx context.Context) error {
	t0 := time.Now()
	if err := db.retireVecFiles(); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	txn := db.bdb.NewTransaction(false)
	defer txn.Discard()
	var recs []spaceRecord
	err := scan(ctx, txn, prefixSpace, func(k, v []byte) error {
		body, ok := unseal(v)
		if !ok {
			return corrupt(k, "checksum")
		}
		var r spaceRecord
		if err := json.Unmarshal(body, &r); err != nil {
			return corrupt(k, "space record: %v", err)
		}
		if r.Name != string(k[len(prefixSpace):]) {
			return corrupt(k, "space name %q", r.Name)
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load spaces: %w", err)
	}
	spaces := make(map[string]*space, len(recs))
	slots := make(map[string]int, len(recs))
	itemHint := 0
	for _, r := range recs {
		n, err := slotCount(txn, r.Name)
		if err != nil {
			return fmt.Errorf("load space %s: %w", r.Name, err)
		}
		slots[r.Name] = n
		sp := &space{cfg: r.Space}
		io := indexOptions(r.Space)
		if db.wantsQuant(r.Space) && (r.Quant != nil || n >= db.quantizeAfter()) {
			if sp.quant, err = db.loadQuantizer(ctx, txn, r); err != nil {
				return fmt.Errorf("load space %s: %w", r.Name, err)
			}
			sp.vf = db.vecFileFor(r.Name, r.Dim)
			io.Quantizer, io.Source, io.Rerank = sp.quant, db.source(sp), db.opts.Rerank
		}
		if sp.idx, err = search.New(io); err != nil {
			return corrupt(spaceKey(r.Name), "space config: %v", err)
		}
		if sp.vf != nil {
			sp.vf.users = append(sp.vf.users, sp.idx)
		}
		spaces[r.Name] = sp
		if r.Kind == KindImages {
			// Each image vector belongs to an item; most items have one.
			itemHint = max(itemHint, n)
		}
	}
	var items map[string]*Item
	var byHash map[string]string
	var g errgroup.Group
	g.Go(func() (err error) {
		t := time.Now()
		items, byHash, err = loadItems(ctx, db.bdb, txn, itemHint)
		db.log.Debug("store: items loaded", "items", len(items), "seconds", time.Since(t).Seconds())
		return err
	})
	for _, r := range recs {
		sp := spaces[r.Name]
		g.Go(func() error { return loadSpace(ctx, txn, sp, r, slots[r.Name], db.log) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("load store: %w", err)
	}
	db.mu.Lock()
	db.items, db.byPath, db.byHash, db.spaces = items, nil, byHash, spaces
	db.mu.Unlock()
	db.log.Debug("store: loaded", "items", len(items), "spaces", len(spaces), "seconds", time.Since(t0).Seconds())
	return nil
}

// slotCount returns one more than the highest node id persisted for space
// name (node or vector key), 0 for an empty space. Keys end in the
// big-endian id, so the last key under each prefix holds it.
func slotCount(txn *badger.Txn, name string) (int, error) {
	n := 0
	for _, prefix := range []string{prefixNode, prefixVec} {
		p := []byte(prefix + name + "\x00")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, Reverse: true})
		it.Seek(append(bytes.Clone(p), 0xff, 0xff, 0xff, 0xff, 0xff))
		if it.Valid() {
			k := it.Item().Key()
			if len(k) != len(p)+4 {
				it.Close()
				return 0, corrupt(k, "node key length")
			}
			n = max(n, int(binary.BigEndian.Uint32(k[len(p):]))+1)
		}
		it.Close()
	}
	if int64(n) > search.MaxNodes {
		return 0, fmt.Errorf("node id %d: %w", n-1, ErrCorrupt)
	}
	return n, nil
}

// loadItems reads every item into a map sized for hint items, with
// loadWorkers goroutines over key ranges split at table boundaries. byHash
// only holds the hashes that differ from their item's id (callers use the
// content hash as id, so usually none).
func loadItems(ctx context.Context, bdb *badger.DB, txn *badger.Txn, hint int) (map[string]*Item, map[string]string, error) {
	items := make(map[string]*Item, hint)
	byHash := make(map[string]string)
	var mu sync.Mutex // guards items and byHash
	bounds := splitKeys(bdb, []byte(prefixItem), loadWorkers())
	var g errgroup.Group
	for i := range len(bounds) - 1 {
		g.Go(func() error {
			var slab []Item
			var files []File
			batch := make([]*Item, 0, 1024)
			flush := func() {
				mu.Lock()
				for _, it := range batch {
					items[it.ID] = it
					if it.Hash != "" && it.Hash != it.ID {
						byHash[it.Hash] = it.ID
					}
				}
				mu.Unlock()
				batch = batch[:0]
			}
			err := scanRange(ctx, txn, []byte(prefixItem), bounds[i], bounds[i+1], func(k, v []byte) error {
				if len(slab) == cap(slab) {
					slab = make([]Item, 0, itemSlab)
				}
				slab = slab[:len(slab)+1]
				it := &slab[len(slab)-1]
				if err := decodeItemInto(k, v, it, &files); err != nil {
					return err
				}
				if batch = append(batch, it); len(batch) == cap(batch) {
					flush()
				}
				return nil
			})
			flush()
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return items, byHash, nil
}

// splitKeys returns up to n+1 ascending bounds (the first is prefix, the
// last nil: the end of the prefix) cutting the keys under prefix into
// ranges of about equal table counts, taken from the smallest keys of
// Badger's tables. Data still in memtables falls into some range too.
func splitKeys(bdb *badger.DB, prefix []byte, n int) [][]byte {
	var lefts [][]byte
	for _, t := range bdb.Tables() {
		if len(t.Left) < 8 {
			continue
		}
		k := t.Left[:len(t.Left)-8] // strip Badger's version suffix
		if bytes.HasPrefix(k, prefix) && !bytes.Equal(k, prefix) {
			lefts = append(lefts, k)
		}
	}
	slices.SortFunc(lefts, bytes.Compare)
	lefts = slices.CompactFunc(lefts, bytes.Equal)
	bounds := [][]byte{prefix}
	for i := 1; i < n && len(lefts) > 0; i++ {
		k := lefts[i*len(lefts)/n]
		if bytes.Compare(k, bounds[len(bounds)-1]) > 0 {
			bounds = append(bounds, k)
		}
	}
	return append(bounds, nil)
}

// loadSpace restores one space's graph, vectors and texts; slots is its
// slotCount.
func loadSpace(ctx context.Context, txn *badger.Txn, sp *space, rec spaceRecord, slots int, log *slog.Logger) error {
	name := rec.Name
	t0 := time.Now()
	r, err := sp.idx.Restore()
	if err != nil {
		return err
	}
	if err := r.Reserve(slots); err != nil {
		return fmt.Errorf("load space %s: %w", name, errors.Join(ErrCorrupt, err))
	}
	np := []byte(prefixNode + name + "\x00")
	vp := []byte(prefixVec + name + "\x00")
	// Worker w reads ids [lo, hi); the last one reads to the end of the
	// prefix, so a key past the reserved slots is still seen (and rejected).
	workers := loadWorkers()
	bound := func(prefix []byte, w int) []byte {
		switch w {
		case 0:
			return prefix
		case workers:
			return nil
		}
		return binary.BigEndian.AppendUint32(bytes.Clone(prefix), uint32(w*slots/workers))
	}
	// Phase 1: nodes.
	var g errgroup.Group
	for w := range workers {
		g.Go(func() error {
			var nd search.Node
			return scanRange(ctx, txn, np, bound(np, w), bound(np, w+1), func(k, v []byte) error {
				n, err := idFromKey(k, len(np), slots)
				if err != nil {
					return err
				}
				if err := decodeNodeInto(k, v, &nd); err != nil {
					return err
				}
				if err := r.SetNode(n, nd); err != nil {
					return &RecordError{Key: fmt.Sprintf("%q", k), Err: errors.Join(ErrCorrupt, err)}
				}
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("load space %s: %w", name, err)
	}
	// Phase 2: vectors, while one goroutine maps the keys. A quantised
	// space's vector file is checked against them on the way; if it cannot
	// be written (a full disk), the space re-ranks from Badger instead.
	var rewritten atomic.Int64
	var vfErr atomic.Pointer[error]
	if sp.vf != nil {
		if err := sp.vf.reserve(slots); err != nil {
			vfErr.Store(&err)
		}
	}
	g.Go(r.MapKeys)
	for w := range workers {
		g.Go(func() error {
			return scanRange(ctx, txn, vp, bound(vp, w), bound(vp, w+1), func(k, v []byte) error {
				n, err := idFromKey(k, len(vp), slots)
				if err != nil {
					return err
				}
				body, ok := unseal(v)
				if !ok {
					return corrupt(k, "checksum")
				}
				if err := r.SetVector(n, body); err != nil {
					return &RecordError{Key: fmt.Sprintf("%q", k), Err: errors.Join(ErrCorrupt, err)}
				}
				if sp.vf != nil && vfErr.Load() == nil {
					wrote, err := sp.vf.check(n, body)
					if err != nil {
						vfErr.CompareAndSwap(nil, &err)
					}
					if wrote {
						rewritten.Add(1)
					}
				}
				return nil
			})
		})
	}
	if rec.Kind == KindTexts {
		sp.texts = make(map[string]string)
		tp := prefixText + name + "\x00"
		g.Go(func() error {
			return scan(ctx, txn, tp, func(k, v []byte) error {
				body, ok := unseal(v)
				if !ok {
					return corrupt(k, "checksum")
				}
				sp.texts[string(k[len(tp):])] = string(body)
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("load space %s: %w", name, err)
	}
	if e := vfErr.Load(); e != nil {
		log.Warn("store: vector file, re-ranking from the store instead", "space", name, "err", *e)
		sp.vf = nil // not published yet: no search reads it
	}
	t1 := time.Now()
	defer func() {
		log.Debug("store: space loaded", "space", name, "slots", slots, "vector_file_rewrites", rewritten.Load(), "read_seconds", t1.Sub(t0).Seconds(), "finish_seconds", time.Since(t1).Seconds())
	}()
	if err := r.Finish(search.Meta{Entry: rec.Entry, Top: rec.Top}); err != nil {
		return fmt.Errorf("load space %s: %w", name, errors.Join(ErrCorrupt, err))
	}
	if rec.Kind == KindTexts {
		for _, id := range sp.idx.Keys() {
			if _, ok := sp.texts[id]; !ok {
				return fmt.Errorf("load space %s: text %q missing: %w", name, id, ErrCorrupt)
			}
		}
	}
	return nil
}

// scan calls fn for every key with prefix, without copying values (they
// are valid only during fn).
func scan(ctx context.Context, txn *badger.Txn, prefix string, fn func(k, v []byte) error) error {
	p := []byte(prefix)
	return scanRange(ctx, txn, p, p, nil, fn)
}

// scanRange calls fn for every key with prefix in [from, to) (to nil: to
// the end of the prefix), without copying values (they are valid only
// during fn). Adjacent ranges see every key exactly once.
func scanRange(ctx context.Context, txn *badger.Txn, prefix, from, to []byte, fn func(k, v []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	i := 0
	for it.Seek(from); it.Valid(); it.Next() {
		if i++; i&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		item := it.Item()
		k := item.Key()
		if to != nil && bytes.Compare(k, to) >= 0 {
			return nil
		}
		if err := item.Value(func(v []byte) error { return fn(k, v) }); err != nil {
			return err
		}
	}
	return nil
}

// idFromKey returns the node id at the end of a node or vector key, which
// must lie below slots.
func idFromKey(k []byte, plen, slots int) (uint32, error) {
	if len(k) != plen+4 {
		return 0, corrupt(k, "node key length")
	}
	n := binary.BigEndian.Uint32(k[plen:])
	if int64(n) >= int64(slots) {
		return 0, corrupt(k, "node id %d past the last id %d", n, slots-1)
	}
	return n, nil
}

// decodeNodeInto decodes a node record into nd, reusing nd's link slices.
func decodeNodeInto(k, v []byte, nd *search.Node) error {
	body, ok := unseal(v)
	if !ok {
		return corrupt(k, "checksum")
	}
	r := &reader{b: body}
	if r.byte() != 1 {
		return corrupt(k, "node version")
	}
	nd.Key = r.string(MaxIDLen)
	nd.Level = int(r.byte())
	if r.bad || nd.Level > search.MaxLevel {
		return corrupt(k, "node level %d", nd.Level)
	}
	for len(nd.Links) <= nd.Level {
		nd.Links = append(nd.Links, nil)
	}
	nd.Links = nd.Links[:nd.Level+1]
	for l := range nd.Links {
		n := r.uvarint(1024)
		if r.bad || uint64(len(r.b)) < 4*n {
			return corrupt(k, "node links")
		}
		list := nd.Links[l][:0]
		for range n {
			list = append(list, r.uint32())
		}
		nd.Links[l] = list
	}
	if r.bad || len(r.b) != 0 {
		return corrupt(k, "node encoding")
	}
	return nil
}
