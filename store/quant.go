package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/dgraph-io/badger/v4"

	"imglish/search"
)

// Quantised image spaces (Options.Quantize).
//
// A quantised space's HNSW index keeps one int8 code per dimension in
// memory instead of a float32 (search.Quantizer: 768 B instead of 3 KB per
// 768-d vector) and walks the graph on codes; the walk's best candidates
// are re-ranked exactly with their full vectors, read from the space's
// mapped vector file (vecfile.go), or from Badger where there is none (the
// vectors are stored as before, so the codes and the file are derived data
// and the float vectors stay the truth). The quantizer is trained once, on the
// first vectors of a space that has reached Options.QuantizeAfter, kept in
// the space record (so every open encodes the same way) and applied in
// place to the graph already built (search.Index.Quantize). A store
// opened without Quantize holds the same spaces as floats again and drops
// the quantizer from the record at its next graph change.

// Defaults of the quantised mode.
const (
	defaultQuantizeAfter = 4096 // vectors before a space is quantised
	quantSample          = 8192 // vectors the quantizer is trained on, at most
)

// quantRecord is the persisted quantizer of a space (search.Quantizer.Ranges).
type quantRecord struct {
	Off  []float32 `json:"off"`
	Step []float32 `json:"step"`
}

func quantRecordOf(z *search.Quantizer) *quantRecord {
	if z == nil {
		return nil
	}
	off, step := z.Ranges()
	return &quantRecord{Off: off, Step: step}
}

// quantizeAfter is the resolved Options.QuantizeAfter.
func (db *DB) quantizeAfter() int {
	if db.opts.QuantizeAfter > 0 {
		return db.opts.QuantizeAfter
	}
	return defaultQuantizeAfter
}

// wantsQuant reports whether a space is to be quantised by this DB.
func (db *DB) wantsQuant(s Space) bool { return db.opts.Quantize && s.Kind == KindImages }

// source is a quantised space's search.VectorSource: the vector of the
// Apply in flight (sp.pending, by key: its slot may still hold another
// key's vector), else the stored one: a slice of the space's mapped vector
// file (vecfile.go; the commit writes it before it clears sp.pending), or
// where there is none, read from Badger in a pooled read-only transaction
// that began after the last commit. The commit bumps DB.gen before it
// clears sp.pending, so a read that missed pending gets a transaction
// that sees the commit.
func (db *DB) source(sp *space) search.VectorSource {
	name := sp.cfg.Name
	return func(n uint32, key string, dst []float32) ([]float32, error) {
		sp.pmu.RLock()
		v, ok := sp.pending[key]
		sp.pmu.RUnlock()
		if ok {
			return append(dst[:0], v...), nil
		}
		if sp.vf != nil {
			if v := sp.vf.vector(n); v != nil {
				return v, nil
			}
			return nil, fmt.Errorf("read vector %s/%d: slot past the vector file: %w", name, n, ErrCorrupt)
		}
		return db.storedVector(name, n, dst)
	}
}

// storedVector appends the vector stored in Badger for node n of space
// name to dst[:0].
func (db *DB) storedVector(name string, n uint32, dst []float32) ([]float32, error) {
	out := dst[:0]
	k := nodeKey(prefixVec, name, n)
	rt := db.readTxn()
	it, err := rt.txn.Get(k)
	if err == nil {
		err = it.Value(func(val []byte) (err error) {
			out, err = appendVector(out, k, val)
			return err
		})
	}
	db.doneTxn(rt)
	if errors.Is(err, badger.ErrKeyNotFound) {
		err = ErrNotFound // a node of a commit that failed (see retireVecFiles)
	}
	if err != nil {
		return nil, fmt.Errorf("read vector %s/%d: %w", name, n, err)
	}
	return out, nil
}

// readTxnPool bounds the read-only transactions a DB keeps for re-ranking.
const readTxnPool = 16

// pooledTxn is a read-only Badger transaction and the DB's write
// generation when it began.
type pooledTxn struct {
	txn *badger.Txn
	gen uint64
}

// readTxn returns a read-only transaction that sees every write
// acknowledged so far: a pooled one begun after the last commit (DB.gen),
// else a new one. A quantised search reads a few dozen vectors; a
// transaction each (Badger's View) cost more than the reads. Return it
// with doneTxn.
func (db *DB) readTxn() *pooledTxn {
	gen := db.gen.Load()
	for {
		select {
		case rt := <-db.txns:
			if rt.gen == gen {
				return rt
			}
			rt.txn.Discard()
			continue
		default:
		}
		return &pooledTxn{txn: db.bdb.NewTransaction(false), gen: gen}
	}
}

// doneTxn returns a transaction to the pool, or discards it.
func (db *DB) doneTxn(rt *pooledTxn) {
	if rt.gen == db.gen.Load() {
		select {
		case db.txns <- rt:
			return
		default:
		}
	}
	rt.txn.Discard()
}

// dropTxns discards the pooled transactions (Close).
func (db *DB) dropTxns() {
	for {
		select {
		case rt := <-db.txns:
			rt.txn.Discard()
		default:
			return
		}
	}
}

// setPending publishes the vectors a commit is about to add to a quantised
// space, for searches that re-rank them before they are on disk; nil
// clears them once the commit is over.
func (sp *space) setPending(puts map[string][]float32) {
	sp.pmu.Lock()
	sp.pending = puts
	sp.pmu.Unlock()
}

// maybeQuantize quantises a space of a Quantize store that has reached
// QuantizeAfter vectors: it trains the quantizer on up to quantSample of
// its vectors, writes it into the space record, then turns the index's
// vectors into codes. Caller holds wmu.
func (db *DB) maybeQuantize(sp *space) error {
	if !db.wantsQuant(sp.cfg) || sp.quant != nil || sp.idx.Len() < db.quantizeAfter() {
		return nil
	}
	keys := sp.idx.Keys()
	step := max(1, len(keys)/quantSample)
	var sample [][]float32
	for i := 0; i < len(keys); i += step {
		v, err := sp.idx.Vector(keys[i])
		if err != nil {
			return fmt.Errorf("quantize %s: %w", sp.cfg.Name, err)
		}
		sample = append(sample, v)
	}
	z, err := search.TrainQuantizer(sample)
	if err != nil {
		return fmt.Errorf("quantize %s: %w", sp.cfg.Name, err)
	}
	m := sp.idx.GraphMeta()
	if err := db.putSpaceRecord(spaceRecord{Space: sp.cfg, Entry: m.Entry, Top: m.Top, Quant: quantRecordOf(z)}); err != nil {
		return fmt.Errorf("quantize %s: %w", sp.cfg.Name, err)
	}
	if vf := db.vecFileFor(sp.cfg.Name, sp.cfg.Dim); vf != nil {
		if err := fillVecFile(vf, sp.idx); err != nil {
			db.log.Warn("store: vector file, re-ranking from the store instead", "space", sp.cfg.Name, "err", err)
			if cerr := db.dropVecFile(sp.cfg.Name, true); cerr != nil {
				db.log.Warn("store: remove vector file", "space", sp.cfg.Name, "err", cerr)
			}
		} else {
			sp.vf = vf
			vf.users = append(vf.users, sp.idx)
		}
	}
	if err := sp.idx.Quantize(z, db.source(sp), db.opts.Rerank); err != nil {
		sp.vf = nil
		return fmt.Errorf("quantize %s: %w", sp.cfg.Name, errors.Join(err, db.dropVecFile(sp.cfg.Name, true)))
	}
	sp.quant = z
	db.log.Info("store: space quantised", "space", sp.cfg.Name, "vectors", len(keys), "sample", len(sample), "bytes", sp.idx.MemoryBytes())
	return nil
}

// appendVector appends the vector of a sealed vector record (key k) to dst.
func appendVector(dst []float32, k, val []byte) ([]float32, error) {
	body, ok := unseal(val)
	if !ok || len(body)%4 != 0 {
		return dst, corrupt(k, "vector checksum")
	}
	for i := 0; i < len(body); i += 4 {
		dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(body[i:])))
	}
	return dst, nil
}

// putSpaceRecord writes a space's record in a transaction of its own.
func (db *DB) putSpaceRecord(r spaceRecord) error {
	rec, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode space: %w", err)
	}
	return db.bdb.Update(func(txn *badger.Txn) error { return txn.Set(spaceKey(r.Name), seal(rec)) })
}

// errEnough stops trainFromDisk's scan.
var errEnough = errors.New("sample complete")

// trainFromDisk trains a quantizer for a space being loaded, on up to
// quantSample of its first stored vectors.
func trainFromDisk(ctx context.Context, txn *badger.Txn, name string) (*search.Quantizer, error) {
	var sample [][]float32
	err := scan(ctx, txn, prefixVec+name+"\x00", func(k, v []byte) error {
		f, err := appendVector(nil, k, v)
		if err != nil {
			return err
		}
		sample = append(sample, f)
		if len(sample) >= quantSample {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, err
	}
	return search.TrainQuantizer(sample)
}

// loadQuantizer is the quantizer of a space being loaded by a Quantize
// store: the record's, or one trained now on its stored vectors and
// written into the record (unless read-only).
func (db *DB) loadQuantizer(ctx context.Context, txn *badger.Txn, r spaceRecord) (*search.Quantizer, error) {
	if r.Quant != nil {
		z, err := search.NewQuantizer(r.Quant.Off, r.Quant.Step)
		if err != nil || z.Dim() != r.Dim {
			return nil, corrupt(spaceKey(r.Name), "quantizer: %v (dim %d)", err, r.Dim)
		}
		return z, nil
	}
	z, err := trainFromDisk(ctx, txn, r.Name)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if !db.opts.ReadOnly {
		r.Quant = quantRecordOf(z)
		if err := db.putSpaceRecord(r); err != nil {
			return nil, fmt.Errorf("quantize: %w", err)
		}
	}
	db.log.Info("store: space quantised at open", "space", r.Name)
	return z, nil
}

// fillVecFile writes every vector of a float index into vf, before the
// index is quantised. Caller holds wmu.
func fillVecFile(vf *vecFile, idx *search.Index) error {
	slots := idx.Slots()
	if err := vf.reserve(slots); err != nil {
		return err
	}
	buf := make([]byte, 0, 4*idx.Dim())
	for n := range uint32(slots) {
		b, ok := idx.AppendVector(buf[:0], n)
		if !ok {
			continue
		}
		if _, err := vf.check(n, b); err != nil {
			return err
		}
	}
	return nil
}
