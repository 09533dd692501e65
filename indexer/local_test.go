package indexer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"imglish/store"
	"imglish/vstore"
)

// countingStore is a real store that counts the per-file reads a catalog
// sends it: what a shared store (a Weaviate cluster) answers over the
// network.
type countingStore struct {
	vstore.Store
	byPath, vectors atomic.Int64
}

func (s *countingStore) ItemByPath(p string) (vstore.Item, error) {
	s.byPath.Add(1)
	return s.Store.ItemByPath(p)
}

func (s *countingStore) Vector(space, id string) ([]float32, error) {
	s.vectors.Add(1)
	return s.Store.Vector(space, id)
}

func (s *countingStore) reads() int64 { return s.byPath.Swap(0) + s.vectors.Swap(0) }

// TestLocalCatalog: with Options.Local, a rescan of unchanged files sends
// no per-file read to the shared store; a fresh local catalog learns from
// the shared store once; and the shared store stays the truth — an item
// deleted there, a changed file, a removed file, an error record and a
// dropped space each end as they do without a local catalog.
func TestLocalCatalog(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, Options{})
	shared := &countingStore{Store: e.db}
	openLocal := func() *store.DB {
		db, err := store.Open(ctx, t.TempDir(), store.Options{MemTableSize: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	local := openLocal()
	ix := func(l vstore.Store) *Indexer {
		x, err := New(Options{Store: shared, Local: l, Encoder: e.enc, Workers: 2, MaxWait: 5e6})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	x := ix(local)
	root := t.TempDir()
	const n = 12
	for i := range n {
		genImage(t, filepath.Join(root, fmt.Sprintf("d%d/img%02d.png", i%3, i)), uint64(i+1), 40, 32)
	}
	if err := os.WriteFile(filepath.Join(root, "broken.png"), []byte("\x89PNG\r\n\x1a\nnot a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(x *Indexer, what string) Summary {
		t.Helper()
		sum, err := x.Run(ctx, root)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return sum
	}
	check := func(what string, sum Summary, embedded, skipped, failed, deleted int64, maxReads int64) {
		t.Helper()
		reads := shared.reads()
		if sum.Embedded != embedded || sum.Skipped != skipped || sum.Failed != failed || sum.Deleted != deleted || reads > maxReads {
			t.Errorf("%s: embedded %d skipped %d failed %d deleted %d, %d per-file reads of the shared store; want %d %d %d %d, ≤ %d reads",
				what, sum.Embedded, sum.Skipped, sum.Failed, sum.Deleted, reads, embedded, skipped, failed, deleted, maxReads)
		}
	}
	check("first run", run(x, "first run"), n, 0, 1, 0, 1<<20)
	check("rescan", run(x, "rescan"), 0, n+1, 0, 0, 0)

	// A fresh local catalog (another data folder on this host) asks the
	// shared store about each file once, then no more.
	y := ix(openLocal())
	check("fresh local catalog", run(y, "fresh"), 0, n+1, 0, 0, 2*(n+1))
	check("fresh local catalog, rescan", run(y, "fresh rescan"), 0, n+1, 0, 0, 0)

	// An item deleted in the shared store (the API, another host) is
	// indexed again by the next run, as without a local catalog.
	victim := filepath.Join(root, "d1/img04.png")
	it, err := e.db.ItemByPath(victim)
	if err != nil {
		t.Fatal(err)
	}
	var b vstore.Batch
	b.DeleteVector(vstore.ImageSpace(e.model), it.ID)
	b.DeleteItem(it.ID)
	if err := e.db.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	check("after a shared delete", run(x, "after delete"), 1, n, 0, 0, 4)
	if _, err := e.db.ItemByPath(victim); err != nil {
		t.Errorf("deleted item not indexed again: %v", err)
	}

	// A changed file and a removed one.
	genImage(t, filepath.Join(root, "d0/img00.png"), 99, 40, 32)
	gone := filepath.Join(root, "d2/img05.png")
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	check("changed and removed", run(x, "changed"), 1, n-2+1, 0, 1, 4)
	if _, err := local.Value(localPrefix + vstore.ImageSpace(e.model) + "\x00" + gone); !errors.Is(err, vstore.ErrNotFound) {
		t.Errorf("local record of a removed file: %v, want ErrNotFound", err)
	}
	check("rescan after changes", run(x, "rescan 2"), 0, n, 0, 0, 0)

	// The space dropped in the shared store: the local records promised
	// vectors it no longer has, so every image is embedded again.
	if err := e.db.DropSpace(ctx, vstore.ImageSpace(e.model)); err != nil {
		t.Fatal(err)
	}
	check("after the space was dropped", run(x, "dropped"), n-1, 1, 0, 0, 1<<20)
	check("rescan after the drop", run(x, "rescan 3"), 0, n, 0, 0, 0)
}

// racingStore is a real store on which another writer's stale write of an
// item lands right after each of this writer's first n writes of an item
// that existed: the item as it was before, so the path this writer linked
// is lost, as when two indexers of a shared store link paths to one
// content at the same instant.
type racingStore struct {
	vstore.Store
	n, raced int
}

func (s *racingStore) Apply(ctx context.Context, b *vstore.Batch) error {
	var before []vstore.Item
	for _, op := range b.Items() {
		if op.Item != nil {
			if it, err := s.Store.Item(op.ID); err == nil {
				before = append(before, it)
			}
		}
	}
	if err := s.Store.Apply(ctx, b); err != nil {
		return err
	}
	if s.raced >= s.n || len(before) == 0 {
		return nil
	}
	s.raced++
	var stale vstore.Batch
	for _, it := range before {
		stale.PutItem(it)
	}
	return s.Store.Apply(ctx, &stale)
}

// TestRelinkLostPath: a path whose link another writer's write of the
// same item dropped is linked again by the commit that made it; a store
// that keeps dropping it fails the run with ErrConflict rather than
// report the path indexed.
func TestRelinkLostPath(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, Options{})
	root := t.TempDir()
	a := filepath.Join(root, "a.png")
	genImage(t, a, 5, 40, 32)
	rs := &racingStore{Store: e.db, n: 1}
	x, err := New(Options{Store: rs, Encoder: e.enc, Workers: 2, MaxWait: 5e6})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Run(ctx, root); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(root, "b.png")
	if err := os.WriteFile(b, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Run(ctx, root); err != nil {
		t.Fatal(err)
	}
	it, err := e.db.ItemByPath(a)
	if err != nil {
		t.Fatal(err)
	}
	if rs.raced != 1 || len(it.Files) != 2 {
		t.Errorf("after %d lost write(s): item holds %v, want both paths", rs.raced, it.Files)
	}

	// A store where the link is lost every time.
	c := filepath.Join(root, "c.png")
	if err := os.WriteFile(c, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rs.n, rs.raced = 1000, 0
	if _, err := x.Run(ctx, root); !errors.Is(err, ErrConflict) {
		t.Errorf("run with every link lost = %v, want ErrConflict", err)
	}
}

// TestLocalCatalogScopes: a run over several roots checks the local
// records of each against one listing of the shared store: items deleted
// there under either root are indexed again by the run.
func TestLocalCatalogScopes(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, Options{})
	local, err := store.Open(ctx, t.TempDir(), store.Options{MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = local.Close() })
	x, err := New(Options{Store: e.db, Local: local, Encoder: e.enc, Workers: 2, MaxWait: 5e6})
	if err != nil {
		t.Fatal(err)
	}
	roots := []string{t.TempDir(), t.TempDir()}
	for i, r := range roots {
		for j := range 3 {
			genImage(t, filepath.Join(r, fmt.Sprintf("img%d.png", j)), uint64(10*i+j+1), 40, 32)
		}
	}
	if _, err := x.Run(ctx, roots...); err != nil {
		t.Fatal(err)
	}
	var b vstore.Batch
	for _, r := range roots {
		it, err := e.db.ItemByPath(filepath.Join(r, "img1.png"))
		if err != nil {
			t.Fatal(err)
		}
		b.DeleteVector(vstore.ImageSpace(e.model), it.ID)
		b.DeleteItem(it.ID)
	}
	if err := e.db.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	sum, err := x.Run(ctx, roots...)
	if err != nil || sum.Embedded != 2 || sum.Skipped != 4 {
		t.Errorf("run over both roots after two shared deletes: embedded %d, skipped %d, %v; want 2, 4", sum.Embedded, sum.Skipped, err)
	}
}
