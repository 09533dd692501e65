package indexer

import (
	"context"
	"sync"
	"testing"
	"time"
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
