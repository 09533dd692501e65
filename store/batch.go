package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"imglish/vstore"
)

// Batch collects writes applied atomically by DB.Apply: one Badger
// transaction, one sync (see vstore.Batch).
type Batch = vstore.Batch

// TextEntry is vstore.TextEntry.
type TextEntry = vstore.TextEntry

// Size limits of values and blobs. Badger keeps a value in one value-log
// file (1 GiB by default) and holds a transaction in memory.
const (
	MaxValueSize = vstore.MaxValueSize
	MaxBlobSize  = vstore.MaxBlobSize
)

// Apply writes the batch atomically and returns after Badger has synced
// it: once Apply returns nil, every write in it survives a crash. On error
// nothing of the batch is visible after a reopen; the in-memory state is
// reloaded from disk (if that fails too, the DB turns broken and every call
// returns ErrClosed).
func (db *DB) Apply(ctx context.Context, b *Batch) error {
	if err := b.Err(); err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	db.mu.RLock()
	err := db.usable()
	db.mu.RUnlock()
	if err != nil {
		return err
	}
	plan, err := db.plan(b)
	if err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	if err := db.commit(plan); err != nil {
		if rerr := db.load(context.WithoutCancel(ctx)); rerr != nil {
			db.mu.Lock()
			db.broken = rerr
			db.mu.Unlock()
			db.log.Error("store: reload after failed commit", "err", rerr)
			return fmt.Errorf("apply batch: %w", errors.Join(err, rerr))
		}
		return fmt.Errorf("apply batch: %w", err)
	}
	for _, name := range plan.sOrder {
		// The batch is durable: a failure here only leaves the space as
		// floats (the next Apply tries again).
		if err := db.maybeQuantize(plan.spaces[name].sp); err != nil {
			db.log.Warn("store: quantise", "space", name, "err", err)
		}
	}
	return nil
}

// batchPlan is a validated batch, resolved against the current state.
type batchPlan struct {
	items   map[string]*Item // final item state per touched id (nil = deleted)
	order   []string         // touched item ids in first-touch order
	spaces  map[string]*spacePlan
	sOrder  []string
	values  []vstore.ValueOp
	deleted map[string]bool
}

type spacePlan struct {
	sp   *space
	dels []string
	puts []vstore.VectorOp
}

// plan validates b against the current state without changing anything.
// Caller holds wmu.
func (db *DB) plan(b *Batch) (*batchPlan, error) {
	p := &batchPlan{items: map[string]*Item{}, spaces: map[string]*spacePlan{}, values: b.Values(), deleted: map[string]bool{}}
	db.mu.RLock()
	defer db.mu.RUnlock()
	exists := func(id string) bool {
		if it, ok := p.items[id]; ok {
			return it != nil
		}
		_, ok := db.items[id]
		return ok
	}
	for _, op := range b.Items() {
		if _, seen := p.items[op.ID]; !seen {
			p.order = append(p.order, op.ID)
		}
		p.items[op.ID] = nil // delete
		if op.Item != nil {
			// The DB keeps this copy: the batch's own stays the caller's.
			c := op.Item.Clone()
			p.items[op.ID] = &c
		}
		p.deleted[op.ID] = op.Item == nil
	}
	spacePlanFor := func(name string) (*spacePlan, error) {
		if sp, ok := p.spaces[name]; ok {
			return sp, nil
		}
		sp, ok := db.spaces[name]
		if !ok {
			return nil, fmt.Errorf("space %s: %w", name, ErrNotFound)
		}
		p.spaces[name] = &spacePlan{sp: sp}
		p.sOrder = append(p.sOrder, name)
		return p.spaces[name], nil
	}
	// Deleted items lose their vectors in every image space.
	for id, del := range p.deleted {
		if !del || p.items[id] != nil {
			continue
		}
		for name, sp := range db.spaces {
			if sp.cfg.Kind == KindImages && sp.idx.Contains(id) {
				spp, _ := spacePlanFor(name)
				spp.dels = append(spp.dels, id)
			}
		}
	}
	// Last op per (space, id) wins.
	last := map[[2]string]int{}
	for i, op := range b.Vectors() {
		last[[2]string{op.Space, op.ID}] = i
	}
	for i, op := range b.Vectors() {
		if last[[2]string{op.Space, op.ID}] != i {
			continue
		}
		spp, err := spacePlanFor(op.Space)
		if err != nil {
			return nil, err
		}
		kind := spp.sp.cfg.Kind
		if op.IsText != (kind == KindTexts) {
			return nil, fmt.Errorf("%s operation on %s space %s: %w", map[bool]string{true: "text", false: "vector"}[op.IsText], kind, op.Space, ErrInvalid)
		}
		if op.Vector == nil {
			if spp.sp.idx.Contains(op.ID) {
				spp.dels = append(spp.dels, op.ID)
			}
			continue
		}
		if len(op.Vector) != spp.sp.cfg.Dim {
			return nil, fmt.Errorf("vector %s/%s has %d dims, space has %d: %w: %w", op.Space, op.ID, len(op.Vector), spp.sp.cfg.Dim, ErrInvalid, vstore.ErrDimension)
		}
		if kind == KindImages && !exists(op.ID) {
			return nil, fmt.Errorf("vector %s/%s for a missing item: %w", op.Space, op.ID, ErrNotFound)
		}
		if spp.sp.idx.Contains(op.ID) {
			spp.dels = append(spp.dels, op.ID)
		}
		spp.puts = append(spp.puts, op)
	}
	return p, nil
}

// commit installs a plan in memory and writes it in one transaction.
// Caller holds wmu. On error the caller reloads.
func (db *DB) commit(p *batchPlan) error {
	txn := db.bdb.NewTransaction(true)
	defer txn.Discard()
	set := func(k, v []byte) error {
		if err := txn.Set(k, v); err != nil {
			return txnErr(err)
		}
		return nil
	}
	del := func(k []byte) error {
		if err := txn.Delete(k); err != nil {
			return txnErr(err)
		}
		return nil
	}
	// Items.
	db.mu.Lock()
	for _, id := range p.order {
		it := p.items[id]
		if old, ok := db.items[id]; ok {
			for _, f := range old.Files {
				if db.byPath[f.Path] == id {
					delete(db.byPath, f.Path)
				}
			}
			if old.Hash != id && db.byHash[old.Hash] == id {
				delete(db.byHash, old.Hash)
			}
		}
		if it == nil {
			delete(db.items, id)
			continue
		}
		db.items[id] = it
		if db.byPath != nil {
			for _, f := range it.Files {
				db.byPath[f.Path] = id
			}
		}
		if it.Hash != "" && it.Hash != id {
			db.byHash[it.Hash] = id
		}
	}
	db.mu.Unlock()
	for _, id := range p.order {
		k := []byte(prefixItem + id)
		var err error
		if it := p.items[id]; it == nil {
			err = del(k)
		} else {
			err = set(k, encodeItem(it))
		}
		if err != nil {
			return err
		}
	}
	for _, v := range p.values {
		k := []byte(prefixValue + v.Key)
		if v.Blob {
			k = []byte(prefixBlob + v.Key)
		}
		var err error
		if v.Value == nil {
			err = del(k)
		} else {
			err = set(k, seal(v.Value))
		}
		if err != nil {
			return err
		}
	}
	// Vectors and graphs.
	for _, name := range p.sOrder {
		spp := p.spaces[name]
		idx := spp.sp.idx
		if len(spp.dels) > 0 {
			idx.Delete(spp.dels...)
		}
		if spp.sp.quant != nil && len(spp.puts) > 0 {
			// Searches may re-rank the new nodes before the commit.
			pending := make(map[string][]float32, len(spp.puts))
			for _, op := range spp.puts {
				pending[op.ID] = op.Vector
			}
			spp.sp.setPending(pending)
			defer spp.sp.setPending(nil)
		}
		// No ctx check in here: stopping half way would force a full reload.
		// Apply checked ctx before starting; batches are bounded.
		for _, op := range spp.puts {
			if err := idx.Add(op.ID, op.Vector); err != nil {
				return fmt.Errorf("index %s/%s: %w", name, op.ID, err)
			}
		}
		if spp.sp.cfg.Kind == KindTexts {
			db.mu.Lock()
			for _, id := range spp.dels {
				delete(spp.sp.texts, id)
			}
			for _, op := range spp.puts {
				spp.sp.texts[op.ID] = op.Text
			}
			db.mu.Unlock()
			for _, id := range spp.dels {
				if err := del(textKey(name, id)); err != nil {
					return err
				}
			}
			for _, op := range spp.puts {
				if err := set(textKey(name, op.ID), seal([]byte(op.Text))); err != nil {
					return err
				}
			}
		}
		if err := db.writeChanges(txn, spp.sp, set, del); err != nil {
			return err
		}
	}
	err := txn.Commit()
	// Pooled read transactions begun before this commit must not serve a
	// re-rank once the pending vectors are cleared (deferred above); the
	// idle ones go now, so that none holds Badger's read mark back.
	db.gen.Add(1)
	db.dropTxns()
	if err != nil {
		return fmt.Errorf("commit: %w", txnErr(err))
	}
	return nil
}

// writeChanges persists the nodes the index touched since the last call.
func (db *DB) writeChanges(txn *badger.Txn, sp *space, set func(k, v []byte) error, del func(k []byte) error) error {
	name := sp.cfg.Name
	ch := sp.idx.TakeChanges()
	for _, n := range ch.Nodes {
		nd, ok := sp.idx.Node(n)
		if !ok {
			if err := del(nodeKey(prefixNode, name, n)); err != nil {
				return err
			}
			if err := del(nodeKey(prefixVec, name, n)); err != nil {
				return err
			}
			continue
		}
		if err := set(nodeKey(prefixNode, name, n), encodeNode(nd)); err != nil {
			return err
		}
	}
	for _, n := range ch.Vectors {
		// A fresh buffer each time: Badger keeps the slice until commit.
		b, ok := sp.idx.AppendVector(make([]byte, 0, 4*sp.cfg.Dim+4), n)
		if !ok {
			continue
		}
		if sp.vf != nil {
			// Before the commit, while sp.pending still serves the new keys.
			if err := sp.vf.put(n, b); err != nil {
				return err
			}
		}
		if err := set(nodeKey(prefixVec, name, n), seal(b)); err != nil {
			return err
		}
	}
	if ch.Meta {
		m := sp.idx.GraphMeta()
		rec, err := json.Marshal(spaceRecord{Space: sp.cfg, Entry: m.Entry, Top: m.Top, Quant: quantRecordOf(sp.quant)})
		if err != nil {
			return fmt.Errorf("encode space: %w", err)
		}
		if err := set(spaceKey(name), seal(rec)); err != nil {
			return err
		}
	}
	return nil
}

func txnErr(err error) error {
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("%w: %w", ErrBatchTooLarge, err)
	}
	return err
}

// Value returns the application value stored under key.
func (db *DB) Value(key string) ([]byte, error) {
	return db.get(prefixValue, "value", key)
}

// Blob returns the blob stored under key (ErrNotFound when there is none).
func (db *DB) Blob(key string) ([]byte, error) {
	return db.get(prefixBlob, "blob", key)
}

func (db *DB) get(prefix, what, key string) ([]byte, error) {
	db.mu.RLock()
	err := db.usable()
	db.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	var out []byte
	err = db.bdb.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte(prefix + key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("%s %.40q: %w", what, key, ErrNotFound)
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			body, ok := unseal(v)
			if !ok {
				return corrupt(it.Key(), "checksum")
			}
			out = slices.Clone(body)
			return nil
		})
	})
	return out, err
}

// ScanValues calls fn for every application value whose key starts with
// prefix, in key order, until fn returns false.
func (db *DB) ScanValues(ctx context.Context, prefix string, fn func(key string, val []byte) bool) error {
	db.mu.RLock()
	uerr := db.usable()
	db.mu.RUnlock()
	if uerr != nil {
		return uerr
	}
	stop := errors.New("stop")
	err := db.bdb.View(func(txn *badger.Txn) error {
		return scan(ctx, txn, prefixValue+prefix, func(k, v []byte) error {
			body, ok := unseal(v)
			if !ok {
				return corrupt(k, "checksum")
			}
			if !fn(string(k[len(prefixValue):]), slices.Clone(body)) {
				return stop
			}
			return nil
		})
	})
	if errors.Is(err, stop) {
		return nil
	}
	return err
}
