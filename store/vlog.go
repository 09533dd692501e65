package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// defaultValueLogGC is how often an open store reclaims value-log space.
const defaultValueLogGC = 10 * time.Minute

// valueLogDiscard is the share of a value-log file that must be garbage
// before RunValueLogGC rewrites it (Badger's README suggests 0.5).
const valueLogDiscard = 0.5

// CompactValueLog reclaims value-log space held by replaced and deleted
// vectors: it rewrites every value-log file that is at least half garbage
// (by Badger's discard statistics, which compactions keep) and returns how
// many it rewrote. An open store also does this every
// Options.ValueLogGCInterval. Safe for concurrent use; it fails with
// ErrClosed on a closed or read-only store.
func (db *DB) CompactValueLog(ctx context.Context) (int, error) {
	db.mu.RLock()
	err := db.usable()
	db.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	if db.opts.ReadOnly {
		return 0, fmt.Errorf("compact value log: read-only store: %w", ErrClosed)
	}
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		err := db.bdb.RunValueLogGC(valueLogDiscard)
		switch {
		case err == nil:
			n++
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			// Nothing (more) to rewrite, or a GC already running.
			return n, nil
		default:
			return n, fmt.Errorf("compact value log: %w", err)
		}
	}
}

// gcLoop runs CompactValueLog every interval until ctx ends; Close cancels
// it and waits for it before closing Badger.
func (db *DB) gcLoop(ctx context.Context, interval time.Duration) {
	defer close(db.gcDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := db.CompactValueLog(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				db.log.Warn("store: value log gc", "err", err)
			case n > 0:
				db.log.Info("store: value log gc", "files_rewritten", n)
			}
		}
	}
}
