package indexer

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"imglish/store"
)

// slowCatalog is the real store catalog whose commits take at least delay, as
// on a disk slow to sync; it records the items of each commit.
type slowCatalog struct {
	catalog
	delay time.Duration

	mu      sync.Mutex
	commits []int // items per commit
}

func (c *slowCatalog) commit(ctx context.Context, b *batch) error {
	select {
	case <-time.After(c.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	c.commits = append(c.commits, len(b.Items))
	c.mu.Unlock()
	return c.catalog.commit(ctx, b)
}

// TestGroupCommit: when the store syncs slower than the encoder embeds,
// batches that queue up are merged into one transaction (never more than
// maxGroupBatches), so the run needs fewer commits than batches, and the
// result is the same as one commit per batch: every image embedded once,
// every record consistent, nothing embedded again on a re-run.
func TestGroupCommit(t *testing.T) {
	const n, batchSize = 30, 2
	e := newEnv(t, Options{BatchSize: batchSize, Workers: 2})
	slow := &slowCatalog{catalog: e.ix.cat, delay: 100 * time.Millisecond}
	e.ix.cat = slow
	root := t.TempDir()
	collection(t, root, n, 7)

	sum := e.run(root)
	if sum.Embedded != n || sum.Failed != 0 || sum.Pending != 0 {
		t.Fatalf("run: %+v", sum.Progress)
	}
	if sum.Batches < n/batchSize || sum.Commits >= sum.Batches {
		t.Errorf("%d batches in %d commits, want fewer commits than batches", sum.Batches, sum.Commits)
	}
	slow.mu.Lock()
	total := 0
	for _, k := range slow.commits {
		total += k
		if k > maxGroupBatches*batchSize {
			t.Errorf("a commit of %d items, want at most %d", k, maxGroupBatches*batchSize)
		}
	}
	if len(slow.commits) != int(sum.Commits) {
		t.Errorf("store saw %d commits, Summary.Commits = %d", len(slow.commits), sum.Commits)
	}
	slow.mu.Unlock()
	if total != n {
		t.Errorf("committed %d items, want %d", total, n)
	}
	e.checkConsistent(root, nil)
	if sum := e.run(root); sum.Skipped != n || e.enc.images.Load() != n {
		t.Errorf("re-run: %+v, encoder embedded %d images in all", sum.Progress, e.enc.images.Load())
	}
}

// limitCatalog refuses, as Badger does a transaction too big, any commit of
// more than max items.
type limitCatalog struct {
	catalog
	max     int
	refused atomic.Int64
}

func (c *limitCatalog) commit(ctx context.Context, b *batch) error {
	if len(b.Items) > c.max {
		c.refused.Add(1)
		return fmt.Errorf("commit %d items: %w", len(b.Items), store.ErrBatchTooLarge)
	}
	return c.catalog.commit(ctx, b)
}

// TestGroupCommitTooLarge: a group the store refuses as too large is
// committed one batch at a time, and the run ends as if it had fitted.
func TestGroupCommitTooLarge(t *testing.T) {
	const n, batchSize = 30, 2
	e := newEnv(t, Options{BatchSize: batchSize, Workers: 2})
	limit := &limitCatalog{catalog: &slowCatalog{catalog: e.ix.cat, delay: 50 * time.Millisecond}, max: batchSize}
	e.ix.cat = limit
	root := t.TempDir()
	collection(t, root, n, 8)

	sum := e.run(root)
	if sum.Embedded != n || sum.Failed != 0 || sum.Pending != 0 {
		t.Fatalf("run: %+v", sum.Progress)
	}
	if limit.refused.Load() == 0 {
		t.Errorf("no group was larger than one batch (%d batches in %d commits)", sum.Batches, sum.Commits)
	}
	if sum.Commits != sum.Batches {
		t.Errorf("%d batches in %d commits, want one commit per batch", sum.Batches, sum.Commits)
	}
	e.checkConsistent(root, nil)
}
