package indexer

// Test harness: a catalog on a real Badger directory (synced writes), until the
// store package lands and the tests move to it.

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
)

type badgerCatalog struct {
	db    *badger.DB
	model string
}

func openBadgerCatalog(dir, model string) (*badgerCatalog, error) {
	db, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(true).WithLogger(nil).
		WithNumVersionsToKeep(1).WithCompactL0OnClose(false))
	if err != nil {
		return nil, err
	}
	return &badgerCatalog{db: db, model: model}, nil
}

func (c *badgerCatalog) Close() error { return c.db.Close() }

func (c *badgerCatalog) fileKey(p string) []byte  { return []byte("f/" + c.model + "\x00" + p) }
func (c *badgerCatalog) itemKey(h Hash) []byte    { return []byte("c/" + c.model + "\x00" + h.String()) }
func (c *badgerCatalog) refKey(h Hash) []byte     { return []byte("r/" + c.model + "\x00" + h.String()) }
func (c *badgerCatalog) filePrefix() []byte       { return []byte("f/" + c.model + "\x00") }
func (c *badgerCatalog) itemPrefix() []byte       { return []byte("c/" + c.model + "\x00") }
func (c *badgerCatalog) pathOf(key []byte) string { return string(key[len(c.filePrefix()):]) }
func (c *badgerCatalog) getRecord(txn *badger.Txn, p string) (FileRecord, bool, error) {
	it, err := txn.Get(c.fileKey(p))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return FileRecord{}, false, nil
	}
	if err != nil {
		return FileRecord{}, false, err
	}
	var r FileRecord
	err = it.Value(func(v []byte) error { return json.Unmarshal(v, &r) })
	return r, err == nil, err
}

func (c *badgerCatalog) lookup(_ context.Context, p string) (r FileRecord, ok bool, err error) {
	err = c.db.View(func(txn *badger.Txn) error {
		r, ok, err = c.getRecord(txn, p)
		return err
	})
	return r, ok, err
}

func (c *badgerCatalog) rangeFiles(ctx context.Context, prefix string, fn func(FileRecord) error) error {
	return c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 100, Prefix: c.filePrefix()})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			p := c.pathOf(it.Item().Key())
			if p != prefix && !strings.HasPrefix(p, strings.TrimSuffix(prefix, "/")+"/") {
				continue
			}
			var r FileRecord
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &r) }); err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
}

func (c *badgerCatalog) hasContent(_ context.Context, h Hash) (bool, error) {
	var ok bool
	err := c.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(c.itemKey(h))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		ok = err == nil
		return err
	})
	return ok, err
}

func (c *badgerCatalog) addRef(txn *badger.Txn, h Hash, d int64) error {
	var n int64
	it, err := txn.Get(c.refKey(h))
	switch {
	case err == nil:
		if err := it.Value(func(v []byte) error { n = int64(binary.BigEndian.Uint64(v)); return nil }); err != nil {
			return err
		}
	case !errors.Is(err, badger.ErrKeyNotFound):
		return err
	}
	n += d
	if n <= 0 {
		if err := txn.Delete(c.refKey(h)); err != nil {
			return err
		}
		return txn.Delete(c.itemKey(h))
	}
	return txn.Set(c.refKey(h), binary.BigEndian.AppendUint64(nil, uint64(n)))
}

type itemValue struct {
	Vector []float32
	Meta   Meta
}

func (c *badgerCatalog) commit(_ context.Context, b *batch) error {
	return c.db.Update(func(txn *badger.Txn) error {
		for _, it := range b.Items {
			v, err := json.Marshal(itemValue{Vector: it.Vector, Meta: it.Meta})
			if err != nil {
				return err
			}
			if err := txn.Set(c.itemKey(it.Hash), v); err != nil {
				return err
			}
		}
		for _, f := range b.Files {
			old, ok, err := c.getRecord(txn, f.Path)
			if err != nil {
				return err
			}
			if ok && old.Err == "" {
				if err := c.addRef(txn, old.Hash, -1); err != nil {
					return err
				}
			}
			if f.Err == "" {
				if err := c.addRef(txn, f.Hash, 1); err != nil {
					return err
				}
			}
			v, _ := json.Marshal(f)
			if err := txn.Set(c.fileKey(f.Path), v); err != nil {
				return err
			}
		}
		for _, p := range b.Deletes {
			old, ok, err := c.getRecord(txn, p)
			if err != nil || !ok {
				return err
			}
			if old.Err == "" {
				if err := c.addRef(txn, old.Hash, -1); err != nil {
					return err
				}
			}
			if err := txn.Delete(c.fileKey(p)); err != nil {
				return err
			}
		}
		return nil
	})
}

// items returns every item's vector by hash.
func (c *badgerCatalog) items() (map[Hash]itemValue, error) {
	out := map[Hash]itemValue{}
	err := c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: c.itemPrefix()})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var h Hash
			k := it.Item().Key()[len(c.itemPrefix()):]
			if n, err := hex.Decode(h[:], k); err != nil || n != len(h) {
				return fmt.Errorf("bad item key %q: %w", k, err)
			}
			var v itemValue
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &v) }); err != nil {
				return err
			}
			for _, x := range v.Vector {
				if math.IsNaN(float64(x)) {
					return errors.New("nan in vector")
				}
			}
			out[h] = v
		}
		return nil
	})
	return out, err
}
