package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"imglish/vstore"
)

// localPrefix keys localCatalog's records in Options.Local:
// localPrefix + space + "\x00" + path → localRecord.
const localPrefix = "indexer/file:"

// localFlush is how many records learnt from the shared store a
// localCatalog buffers before it writes them (one synced Apply).
const localFlush = 512

// localRecord is the stored form of one of this host's file records.
type localRecord struct {
	Size    int64       `json:"size"`
	ModTime int64       `json:"mtime_ns"`
	Hash    string      `json:"hash,omitempty"` // hex; empty for an error record
	Err     string      `json:"err,omitempty"`
	Sticky  bool        `json:"sticky,omitempty"` // fileRecord.Sticky; without it an error is retried
	Limits  *sizeLimits `json:"limits,omitempty"` // fileRecord.Limits
}

// localCatalog is the catalog of an indexer whose Store is shared by
// several hosts (a Weaviate cluster; Options.Local): this host's file
// records — path, size and mtime → content hash, or why the file failed —
// are also kept in a store on this host, so a rescan finds an unchanged
// file there instead of asking the cluster about every path (two remote
// reads per file: the item by path, then the space's vector).
//
// The shared store stays the truth, and the local records a cache of what
// it acknowledged:
//   - lookup answers from the local record when there is one; otherwise it
//     asks the shared store and remembers what that knows (written in
//     batches of localFlush, and at every commit and prune).
//   - commit writes the shared store first and the local records only once
//     it acknowledged the batch, so a crash in between leaves a record
//     missing (asked again next time), never one ahead of the truth.
//   - rangeFiles (prune, Errors) reads the shared store and drops every
//     local record below the prefix that the shared store no longer holds
//     (an item deleted through the API or by another host); refresh does
//     the same before a run over whole roots walks, so that run indexes
//     those files again. That costs one listing per run instead of two
//     reads per file.
//   - ensureSpace drops this space's local records when it has to create
//     the space (a dropped collection left records that promise vectors).
//
// A failed local write is logged, not returned: the shared store holds the
// batch, and a missing or older local record only costs a remote lookup or
// a re-read of the file.
type localCatalog struct {
	*storeCatalog // the shared store: the truth, and all but lookup
	local         vstore.Store
	keyPrefix     string // localPrefix + space + "\x00"
	warn          func(msg string, args ...any)

	mu      sync.Mutex // guards pending
	pending []localOp
}

// localOp sets (val) or deletes (nil) one local record.
type localOp struct {
	key string
	val []byte
}

func newLocalCatalog(remote *storeCatalog, local vstore.Store, warn func(string, ...any)) *localCatalog {
	return &localCatalog{storeCatalog: remote, local: local, keyPrefix: localPrefix + remote.space + "\x00", warn: warn}
}

// key is path's record key, "" when too long to be one (that path is
// always looked up in the shared store).
func (c *localCatalog) key(p string) string {
	k := c.keyPrefix + p
	if len(k) > vstore.MaxIDLen {
		return ""
	}
	return k
}

func encodeLocal(r fileRecord) []byte {
	lr := localRecord{Size: r.Size, ModTime: r.ModTime, Err: r.Err, Sticky: r.Sticky, Limits: r.Limits}
	if r.Err == "" {
		lr.Hash = r.Hash.String()
	}
	b, _ := json.Marshal(lr)
	return b
}

func (c *localCatalog) lookup(ctx context.Context, p string) (fileRecord, bool, error) {
	k := c.key(p)
	if k != "" {
		v, err := c.local.Value(k)
		switch {
		case err == nil:
			var lr localRecord
			if json.Unmarshal(v, &lr) == nil {
				r := fileRecord{Path: p, Size: lr.Size, ModTime: lr.ModTime, Err: lr.Err, Sticky: lr.Sticky, Limits: lr.Limits, hadErr: lr.Err != ""}
				if lr.Err != "" {
					return r, true, nil
				}
				if h, ok := hashOf(lr.Hash); ok {
					r.Hash = h
					return r, true, nil
				}
			}
			// An unreadable record: ask the shared store, and replace it.
		case !errors.Is(err, vstore.ErrNotFound):
			return fileRecord{}, false, fmt.Errorf("local catalog: %w", err)
		}
	}
	r, ok, err := c.storeCatalog.lookup(ctx, p)
	if err != nil || !ok || k == "" {
		return r, ok, err
	}
	c.mu.Lock()
	c.pending = append(c.pending, localOp{k, encodeLocal(r)})
	full := len(c.pending) >= localFlush
	c.mu.Unlock()
	if full {
		c.flush(ctx, nil)
	}
	return r, ok, nil
}

// flush writes the pending records, then more (the records of an
// acknowledged batch), in synced local Applies of up to localChunk.
func (c *localCatalog) flush(ctx context.Context, more []localOp) {
	c.mu.Lock()
	ops := append(c.pending, more...)
	c.pending = nil
	c.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	for len(ops) > 0 {
		n := min(len(ops), localChunk)
		var b vstore.Batch
		for _, op := range ops[:n] {
			b.SetValue(op.key, op.val)
		}
		if err := c.local.Apply(ctx, &b); err != nil {
			c.warn("local file catalog: write failed (the shared store has the records; the next run asks it)", "records", n, "err", err)
		}
		ops = ops[n:]
	}
}

// localChunk bounds one local Apply (Badger refuses a transaction too big).
const localChunk = 4096

func (c *localCatalog) commit(ctx context.Context, b *batch) error {
	if err := c.storeCatalog.commit(ctx, b); err != nil {
		return err
	}
	var ops []localOp
	for _, p := range b.Deletes {
		if k := c.key(p); k != "" {
			ops = append(ops, localOp{k, nil})
		}
	}
	for _, r := range b.Files {
		if k := c.key(r.Path); k != "" {
			ops = append(ops, localOp{k, encodeLocal(r)})
		}
	}
	c.flush(ctx, ops)
	return nil
}

func (c *localCatalog) rangeFiles(ctx context.Context, prefix string, fn func(fileRecord) error) error {
	held := map[string]bool{}
	err := c.storeCatalog.rangeFiles(ctx, prefix, func(r fileRecord) error {
		held[r.Path] = true
		return fn(r)
	})
	if err != nil {
		return err
	}
	return c.dropStale(ctx, []string{prefix}, held)
}

// dropStale deletes the local records below prefixes whose paths the
// shared store does not hold.
func (c *localCatalog) dropStale(ctx context.Context, prefixes []string, held map[string]bool) error {
	var stale []localOp
	for _, prefix := range prefixes {
		err := c.local.ScanValues(ctx, c.keyPrefix+strings.TrimSuffix(prefix, "/"), func(k string, _ []byte) bool {
			if p := strings.TrimPrefix(k, c.keyPrefix); within(p, prefix) && !held[p] {
				stale = append(stale, localOp{k, nil})
			}
			return true
		})
		if err != nil {
			return fmt.Errorf("local catalog: %w", err)
		}
	}
	c.flush(ctx, stale)
	return nil
}

// refresher is a catalog that keeps a cache of the truth: a run lets it
// check the cache against the truth below its scopes before the walk.
type refresher interface {
	refresh(ctx context.Context, prefixes []string) error
}

// refresh drops the local records below prefixes that the shared store no
// longer holds, before a run trusts them: an item deleted through the API
// or by another host is indexed again by this run, as with a store of its
// own. One listing serves every scope (a run may have several roots; a
// shared store lists its items whole whatever the prefix). The pipeline
// calls it for runs over whole roots only (wholeRoots).
func (c *localCatalog) refresh(ctx context.Context, prefixes []string) error {
	list := "/"
	if len(prefixes) == 1 {
		list = prefixes[0]
	}
	held := map[string]bool{}
	err := c.storeCatalog.rangeFiles(ctx, list, func(r fileRecord) error {
		held[r.Path] = true
		return nil
	})
	if err != nil {
		return err
	}
	return c.dropStale(ctx, prefixes, held)
}

func (c *localCatalog) ensureSpace(ctx context.Context, dim int) error {
	exists := false
	for _, s := range c.db.Spaces() {
		exists = exists || s.Name == c.space
	}
	if !exists {
		var stale []localOp
		err := c.local.ScanValues(ctx, c.keyPrefix, func(k string, _ []byte) bool {
			stale = append(stale, localOp{k, nil})
			return true
		})
		if err != nil {
			return fmt.Errorf("local catalog: %w", err)
		}
		c.mu.Lock()
		c.pending = nil
		c.mu.Unlock()
		c.flush(ctx, stale)
	}
	return c.storeCatalog.ensureSpace(ctx, dim)
}
